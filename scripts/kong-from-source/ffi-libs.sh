# Step 3's native libraries Kong's Lua loads over FFI: atc-router (Rust), lua-resty-simdjson and
# ada (C++), each from its pin.

# atc-router (Rust, crates.io; Cargo.lock of its tag): libatc_router.so and resty/router/*.lua.
build_atc_router() {
  local src="$WORK/rocks/src/atc-router" site="$PREFIX/openresty/site/lualib"
  export_tree atc_router "$src"
  say "3/4 atc-router (Rust, crates.io; about a minute)"
  (cd "$src" && CARGO_PROFILE_RELEASE_STRIP=symbols cargo build --release --locked) \
    >"$WORK/logs/rocks-atc-router.log" 2>&1 || die "atc-router did not build (see $WORK/logs/rocks-atc-router.log)"
  mkdir -p "$site"
  install -m 755 "$src/target/release/libatc_router.so" "$site/libatc_router.so"
  copy_lua "$src/lib" "$site"
}

# lua-resty-simdjson (C++ with simdjson vendored): its Makefile's build, then its install layout.
# The mirror lacks its src/simdjson.h; its src/simdjson.cpp is simdjson v3.9.5's amalgamation
# (singleheader/amalgamate.py at the tag, dated by the tag's commit as the script does), so
# the pair is made again there and the .cpp must come out byte for byte the vendored one.
build_simdjson() {
  local src="$WORK/rocks/src/lua-resty-simdjson" site="$PREFIX/openresty/site/lualib"
  local sj="$WORK/rocks/src/simdjson" mirror commit gd
  export_pin lua_resty_simdjson "$src"
  read -r mirror commit <<<"$(pin simdjson)"
  gd=$(git_dir "$mirror")
  rm -rf "$sj" && mkdir -p "$sj"
  git --git-dir="$gd" archive "$commit" -- include src singleheader \
    ':(exclude)singleheader/simdjson.h' ':(exclude)singleheader/simdjson.cpp' 2>>"$WORK/logs/rocks.log" |
    tar -x -C "$sj" ||
    die "simdjson at $commit did not export"
  (cd "$sj" && python3 singleheader/amalgamate.py) >"$WORK/logs/rocks-simdjson.log" 2>&1 ||
    die "simdjson's amalgamate.py failed (see $WORK/logs/rocks-simdjson.log)"
  sed -i "1s|auto-generated on \\.|auto-generated on $(git --git-dir="$gd" show -s --format=%ci "$commit").|" \
    "$sj/singleheader/simdjson.h" "$sj/singleheader/simdjson.cpp"
  cmp -s "$sj/singleheader/simdjson.cpp" "$src/src/simdjson.cpp" ||
    die "simdjson $commit's amalgamation differs from lua-resty-simdjson's src/simdjson.cpp"
  cp "$sj/singleheader/simdjson.h" "$src/src/simdjson.h"
  say "3/4 lua-resty-simdjson (C++; about a minute)"
  make -C "$src" build >>"$WORK/logs/rocks-simdjson.log" 2>&1 ||
    die "lua-resty-simdjson did not build (see $WORK/logs/rocks-simdjson.log)"
  mkdir -p "$site"
  install -m 755 "$src/libsimdjson_ffi.so" "$site/libsimdjson_ffi.so"
  copy_lua "$src/lib" "$site"
}

# ada 2.9.2 as libada.so: Kong compiles the release's single-file ada.cpp; src/ada.cpp of the tag
# is the same translation unit (it includes the other sources).
build_ada() {
  local src="$WORK/rocks/src/ada"
  export_tree ada "$src"
  say "3/4 ada (C++; under a minute)"
  mkdir -p "$PREFIX/kong/lib"
  g++ -std=c++17 -O2 -fPIC -shared -DNDEBUG -I"$src/include" -I"$src/src" "$src/src/ada.cpp" \
    -o "$PREFIX/kong/lib/libada.so" >"$WORK/logs/rocks-ada.log" 2>&1 ||
    die "ada did not build (see $WORK/logs/rocks-ada.log)"
}
