# Step 3: Kong's Lua code and everything it loads besides OpenResty's own lualib, each from its
# pin (KONG_PINS and ROCK_PINS in pins.sh):
#  - the rocks of kong-3.9.3-0.rockspec and the rocks those need, built from their tags with
#    rockbuild.lua (beside this file), a small stand-in for `luarocks make` that reads a LuaRocks "builtin"
#    (or "none") rockspec and compiles its C modules against LuaJIT's headers. Lua modules go to
#    $PREFIX/openresty/luajit/share/lua/5.1 and C modules to .../lib/lua/5.1, which LuaJIT's
#    default package.path and package.cpath search (so do nginx's and resty's: Kong's nginx
#    template ends lua_package_path with ";;") once LuaJIT is built with LUA_ROOT set to its
#    prefix, as Kong's build does (check_rocks says so if not); no LUA_PATH is needed;
#  - Kong itself, installed the same way from its rockspec, plus bin/kong, kong.conf.default
#    and the .proto files in kong/include;
#  - as Kong's build/BUILD.bazel does: the Lua of Kong's nginx modules, of atc-router and of
#    lua-resty-simdjson in $PREFIX/openresty/site/lualib, with libatc_router.so and
#    libsimdjson_ffi.so beside them (their Lua finds them on package.cpath), and libada.so in
#    $PREFIX/kong/lib (nginx's rpath). libsnappy.so is Debian's (libsnappy-dev).
# Logs: $WORK/logs/rocks.log (and rocks-*.log for the bigger builds).

ROCKBUILD="$(dirname "${BASH_SOURCE[0]}")/rockbuild.lua"

# NAME RECIPE: the rockspec in the rock's tree, or "=" for one written here (rock_spec below)
# where the tag has none for its version. Every rock of ROCK_PINS is here.
ROCK_BUILDS='
inspect                  =
luasec                   luasec-1.3.2-1.rockspec
luasocket                luasocket-scm-0.rockspec
penlight                 rockspecs/penlight-1.14.0-1.rockspec
lua-resty-http           lua-resty-http-0.17.2-0.rockspec
lua-resty-jit-uuid       lua-resty-jit-uuid-0.0.7-1.rockspec
lua-ffi-zlib             lua-ffi-zlib-0.6-0.rockspec
multipart                multipart-0.5.9-1.rockspec
version                  version-1.0.1-1.rockspec
kong-lapis               kong-lapis-1.16.0.1-1.rockspec
kong-pgmoon              pgmoon-dev-1.rockspec
luatz                    luatz-0.4-0.rockspec
lua_system_constants     lua_system_constants-0.1.4-0.rockspec
lyaml                    =
luasyslog                rockspecs/luasyslog-2.0.1-1.rockspec
lua_pack                 lua_pack-2.0.0-0.rockspec
binaryheap               binaryheap-0.4-1.rockspec
luaxxhash                releases/luaxxhash-1.0.0-1.rockspec
lua-protobuf             rockspecs/lua-protobuf-scm-1.rockspec
lua-resty-healthcheck    rockspecs/lua-resty-healthcheck-3.1.0-1.rockspec
lua-messagepack          rockspec/lua-messagepack-0.5.2-1.rockspec
lua-resty-aws            =
lua-resty-openssl        lua-resty-openssl-1.5.1-1.rockspec
lua-resty-gcp            lua-resty-gcp-0.0.13-1.rockspec
lua-resty-counter        lua-resty-counter-0.2.1-1.rockspec
lua-resty-ipmatcher      rockspec/lua-resty-ipmatcher-0.6.1-0.rockspec
lua-resty-acme           lua-resty-acme-0.15.0-1.rockspec
lua-resty-session        lua-resty-session-4.0.5-1.rockspec
lua-resty-timer-ng       lua-resty-timer-ng-0.2.7-1.rockspec
lpeg                     =
lua-resty-ljsonschema    rockspecs/lua-resty-ljsonschema-1.2.0-1.rockspec
lua-resty-snappy         lua-resty-snappy-dev-1.rockspec
lua-resty-ada            lua-resty-ada-1.1.0-1.rockspec
luafilesystem            luafilesystem-scm-1.rockspec
lua-resty-timer          rockspecs/lua-resty-timer-1.1.0-1.rockspec
lua-resty-jwt            lua-resty-jwt-dev-0.rockspec
lua-resty-luasocket      rockspecs/lua-resty-luasocket-1.1.2-1.rockspec
ansicolors               ansicolors-1.0-1.rockspec
date                     rockspecs/date-2.2.1-1.rockspec
etlua                    etlua-dev-1.rockspec
loadkit                  loadkit-dev-1.rockspec
net-url                  rockspec/net-url-1.2-1.rockspec
luaexpat                 rockspecs/luaexpat-1.5.2-1.rockspec
lualogging               rockspecs/lualogging-1.8.2-1.rockspec
'

# Files of a pinned tree that the mirrors lack (their blobs are absent; a few big generated
# files): NAME PATH. They are left out of the export; lua-resty-gcp's is the module of one Google
# API (Content Warehouse) that Kong does not load (Kong loads resty.gcp's credentials only), and
# lua-resty-simdjson's header is made again from simdjson (build_simdjson).
ROCK_ABSENT='
lua-resty-gcp            api-definitions/contentwarehouse_v1.json
lua-resty-gcp            src/resty/gcp/api/contentwarehouse_v1.lua
lua_resty_simdjson       src/simdjson.h
'

# absent NAME: the paths ROCK_ABSENT lists for NAME.
absent() { printf '%s\n' "$ROCK_ABSENT" | awk -v n="$1" '$1 == n { print $2 }'; }

# export_pin NAME DEST: export_tree, less the files the mirror lacks.
export_pin() {
  local mirror commit gd f excl=()
  for f in $(absent "$1"); do excl+=(":(exclude)$f"); done
  [ ${#excl[@]} -gt 0 ] || { export_tree "$1" "$2"; return; }
  read -r mirror commit <<<"$(pin "$1")"
  gd=$(git_dir "$mirror")
  rm -rf "$2" && mkdir -p "$2"
  # (git archive still names the absent blobs on stderr, and leaves them out)
  git --git-dir="$gd" archive "$commit" -- . "${excl[@]}" 2>>"$WORK/logs/rocks.log" | tar -x -C "$2" ||
    die "$mirror at $commit did not export ($1)"
}

# The rockspecs the tags lack: the build tables of the published rocks of those versions
# (inspect's and lpeg's as on luarocks.org; lyaml's is its lukefile, which its rockspec runs).
rock_spec() {
  case "$1" in
    inspect) cat <<'EOF'
package = "inspect"
version = "3.1.3-0"
build = { type = "builtin", modules = { inspect = "inspect.lua" } }
EOF
      ;;
    lpeg) cat <<'EOF'
package = "LPeg"
version = "1.1.0-1"
build = {
  type = "builtin",
  modules = {
    lpeg = { "lpcap.c", "lpcode.c", "lpcset.c", "lpprint.c", "lptree.c", "lpvm.c" },
    re = "re.lua",
  },
}
EOF
      ;;
    lyaml) cat <<'EOF'
package = "lyaml"
version = "6.2.8-1"
build = {
  type = "builtin",
  modules = {
    yaml = {
      sources = { "ext/yaml/yaml.c", "ext/yaml/emitter.c", "ext/yaml/parser.c", "ext/yaml/scanner.c" },
      defines = { 'PACKAGE="lyaml"', 'VERSION="6.2.8"', "NDEBUG=1", "_FORTIFY_SOURCE=2" },
      incdirs = { "ext/include", "$(YAML_INCDIR)" },
      libdirs = { "$(YAML_LIBDIR)" },
      libraries = { "yaml" },
    },
    lyaml = "lib/lyaml/init.lua",
    ["lyaml.explicit"] = "lib/lyaml/explicit.lua",
    ["lyaml.functional"] = "lib/lyaml/functional.lua",
    ["lyaml.implicit"] = "lib/lyaml/implicit.lua",
  },
}
EOF
      ;;
    lua-resty-aws) aws_rockspec "$2" ;;
    *) die "no rockspec written for $1" ;;
  esac
}

# rock_build NAME SPEC SRCDIR: SPEC (a file) built from SRCDIR into the LuaJIT tree.
rock_build() {
  local lj="$PREFIX/openresty/luajit" r="$WORK/rocks" absent_files
  absent_files=$(absent "$1" | paste -sd:)
  rm -rf "$r/obj/$1"
  "$lj/bin/luajit" "$ROCKBUILD" "$2" "$3" "$lj/share/lua/5.1" "$lj/lib/lua/5.1" \
    "$r/obj/$1" "$r/manifest/$1" \
    LUA_INCDIR="$lj/include/luajit-2.1" \
    OPENSSL_INCDIR=/usr/include OPENSSL_LIBDIR="$(multiarch_libdir)" \
    EXPAT_INCDIR=/usr/include EXPAT_LIBDIR="$(multiarch_libdir)" \
    YAML_INCDIR=/usr/include YAML_LIBDIR="$(multiarch_libdir)" ABSENT="$absent_files" \
    >>"$WORK/logs/rocks.log" 2>&1 || die "rock $1 did not build (see $WORK/logs/rocks.log)"
}

multiarch_libdir() { printf '/usr/lib/%s\n' "$(gcc -print-multiarch)"; }

install_rock() {
  local name=$1 recipe=$2 src="$WORK/rocks/src/$1" spec
  export_pin "$name" "$src"
  case "$name" in
    lua-resty-jwt) export_tree lua_resty_hmac "$src/third-party/lua-resty-hmac" ;;
    lua-resty-aws) aws_raw_api "$src" ;;
  esac
  if [ "$recipe" = "=" ]; then
    spec="$WORK/rocks/specs/$name.rockspec"
    rock_spec "$name" "$src" >"$spec"
  else
    spec="$src/$recipe"
  fi
  [ -f "$spec" ] || die "rock $name: no $recipe in its tree"
  printf '== %s %s\n' "$name" "$(printf '%s\n' "$ROCK_PINS" | awk -v n="$name" '$1 == n { print $4, $2, $3 }')" \
    >>"$WORK/logs/rocks.log"
  rock_build "$name" "$spec" "$src"
}

# Kong's own Lua (its rockspec's build.modules), its CLI, its default configuration and the
# .proto files it loads at run time (the package puts them in /usr/local/kong/include, the first
# directory kong/tools/grpc.lua looks in; here that directory is $PREFIX/kong/include).
install_kong_lua() {
  local src="$WORK/rocks/src/kong" lj="$PREFIX/openresty/luajit"
  export_tree kong "$src"
  echo "== kong $(pin kong)" >>"$WORK/logs/rocks.log"
  rock_build kong "$src/kong-3.9.3-0.rockspec" "$src"
  sed -i "s|\"/usr/local/kong/include\",|\"$PREFIX/kong/include\",|" "$lj/share/lua/5.1/kong/tools/grpc.lua"
  grep -q "\"$PREFIX/kong/include\"," "$lj/share/lua/5.1/kong/tools/grpc.lua" ||
    die "kong/tools/grpc.lua: the include path was not relocated"
  rm -rf "$PREFIX/kong/include" && mkdir -p "$PREFIX/kong" "$PREFIX/bin" "$PREFIX/etc/kong"
  cp -r "$src/kong/include" "$PREFIX/kong/include"
  install -m 755 "$src/bin/kong" "$PREFIX/bin/kong"
  install -m 644 "$src/kong.conf.default" "$PREFIX/etc/kong/kong.conf.default"
}

# copy_lua FROM TO: the .lua files under FROM, as they lie, into TO.
copy_lua() {
  (cd "$1" && find . -name '*.lua' -print0 | tar --null -T - -cf -) | tar -xf - -C "$2"
}

# The Lua of Kong's nginx modules (build/BUILD.bazel: lualib_deps and install-ngx-wasmx-module-lualib).
install_module_lualibs() {
  local site="$PREFIX/openresty/site/lualib" m="$WORK/rocks/src" name dir
  mkdir -p "$site"
  while read -r name dir; do
    [ -n "$name" ] || continue
    export_tree "$name" "$m/$name"
    copy_lua "$m/$name/$dir" "$site"
  done <<'EOF'
lua_kong_nginx_module lualib
lua_resty_events      lualib
lua_resty_lmdb        lib
lua_resty_websocket   lib
ngx_wasm_module       lib
EOF
}

# What a plain LuaJIT can load of it (the rest needs ngx), and no C module linked to PUC Lua;
# then that LuaJIT's default package.path and cpath are the tree's, which needs LuaJIT built
# with LUA_ROOT=$PREFIX/openresty/luajit (Kong's LuaJIT patch 02_pass_cc_env makes luaconf.h's
# root LUA_ROOT, and Kong's build passes it; left out, the default path is /share/lua/5.1/...).
check_rocks() {
  local lj="$PREFIX/openresty/luajit" so m
  for so in $(find "$lj/lib/lua/5.1" "$PREFIX/openresty/site/lualib" "$PREFIX/kong/lib" -name '*.so'); do
    ! ldd "$so" | grep -q 'liblua' || die "$so links PUC Lua"
    ! ldd "$so" | grep -q 'not found' || die "$so: a library is missing ($(ldd "$so" | grep 'not found'))"
  done
  for m in inspect ssl ssl.https socket socket.http mime ltn12 pl.path pl.lapp lfs lpeg re lyaml \
    lsyslog lua_pack lua_system_constants pb protoc luatz version multipart binaryheap luaxxhash \
    MessagePack date etlua loadkit ansicolors net.url lxp lxp.lom logging pgmoon; do
    LUA_PATH="$lj/share/lua/5.1/?.lua;$lj/share/lua/5.1/?/init.lua" LUA_CPATH="$lj/lib/lua/5.1/?.so" \
      "$lj/bin/luajit" -e "require '$m'" >>"$WORK/logs/rocks.log" 2>&1 ||
      die "luajit cannot load $m (see $WORK/logs/rocks.log)"
  done
  # shellcheck disable=SC2016
  "$lj/bin/luajit" -e 'print(package.path) print(package.cpath)' | grep -qF "$lj/share/lua/5.1/?.lua" ||
    die "LuaJIT's default package.path lacks $lj/share/lua/5.1: step 1 must build LuaJIT with LUA_ROOT=$lj"
}

install_rocks() {
  local lj="$PREFIX/openresty/luajit" name recipe n=0
  [ -x "$lj/bin/luajit" ] || die "LuaJIT is not built: run step 1 (openresty) first"
  rm -rf "$WORK/rocks" && mkdir -p "$WORK/rocks/specs" "$WORK/rocks/manifest"
  : >"$WORK/logs/rocks.log"
  say "3/4 rocks from their tags into $lj"
  while read -r name recipe; do
    [ -n "$name" ] || continue
    install_rock "$name" "$recipe"
    n=$((n + 1))
  done <<<"$ROCK_BUILDS"
  say "3/4 $n rocks installed; Kong's Lua, bin/kong, kong.conf.default"
  install_kong_lua
  say "3/4 the Lua of Kong's nginx modules into $PREFIX/openresty/site/lualib"
  install_module_lualibs
  build_atc_router
  build_simdjson
  build_ada
  check_rocks
  rm -rf "$WORK/rocks/src" "$WORK/rocks/obj"
  say "3/4 rocks done (manifests: $WORK/rocks/manifest)"
}
