# Sourced by the scripts: use Debian's rust-web 1.96 toolchain for every build (native and wasm),
# ahead of rustup's proxies, so one compiler and one std serve the whole workspace.
export PATH="/usr/bin:$PATH"
export RUSTC=/usr/bin/rustc
export RUSTDOC=/usr/bin/rustdoc
export CARGO=/usr/bin/cargo
