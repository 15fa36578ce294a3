# Step 1: OpenResty 1.25.3.2 put together from its pieces as openresty.org's tarball lays them
# out (OpenResty's util/mirror-tarballs at v1.25.3.2), then Kong 3.9.3's patches, then LuaJIT
# built on its own as Kong's build does. Output: $WORK/openresty-1.25.3.2 (patched) and
# $PREFIX/openresty/luajit.

OPENRESTY_VERSION=1.25.3.2
NGINX_VERSION=1.25.3
LUAJIT_DIR=LuaJIT-2.1-20231117.1

# PIN BUNDLE-DIR FIX: FIX "d" = the DESTDIR touch-up mirror-tarballs gives that Makefile.
BUNDLE_DIRS='
ngx_lua                        ngx_lua-0.10.26                      -
ngx_stream_lua                 ngx_stream_lua-0.0.14                -
ngx_devel_kit                  ngx_devel_kit-0.3.3                  -
echo                           echo-nginx-module-0.63               -
headers_more                   headers-more-nginx-module-0.37       -
lua_cjson                      lua-cjson-2.1.0.13                   -
lua_redis_parser               lua-redis-parser-0.13                -
lua_rds_parser                 lua-rds-parser-0.06                  d
lua_resty_core                 lua-resty-core-0.1.28                -
lua_resty_lrucache             lua-resty-lrucache-0.13              d
lua_resty_dns                  lua-resty-dns-0.23                   d
lua_resty_memcached            lua-resty-memcached-0.17             d
lua_resty_redis                lua-resty-redis-0.30                 -
lua_resty_mysql                lua-resty-mysql-0.27                 d
lua_resty_limit_traffic        lua-resty-limit-traffic-0.09         d
lua_resty_upload               lua-resty-upload-0.11                d
lua_resty_string               lua-resty-string-0.15                d
or_lua_resty_websocket         lua-resty-websocket-0.11             d
lua_resty_lock                 lua-resty-lock-0.09                  d
lua_resty_upstream_healthcheck lua-resty-upstream-healthcheck-0.08  d
lua_tablepool                  lua-tablepool-0.03                   d
lua_resty_signal               lua-resty-signal-0.03                d
lua_resty_shell                lua-resty-shell-0.03                 d
resty_cli                      resty-cli-0.30                       -
opm                            opm-0.0.8                            -
'

# The nginx part of mirror-tarballs (OpenResty's own nginx patches, gated by version as there),
# run in the nginx tree with the variables it expects.
openresty_nginx_patches() {
  local root=$1 tree=$2 script
  script=$(sed -n '/^cd nginx-\$ver/,/^cd \.\. || exit 1/p' "$root/util/mirror-tarballs" | sed '1d;$d')
  [ -n "$script" ] || die "mirror-tarballs: the nginx section was not found"
  (cd "$tree" && root=$root main_ver=$NGINX_VERSION ver=$NGINX_VERSION minor_ver=${OPENRESTY_VERSION##*.} \
    info_txt='[openresty patch]' bash -c "$script") >"$WORK/logs/nginx-patches.log" 2>&1 ||
    die "OpenResty's nginx patches did not apply (see $WORK/logs/nginx-patches.log)"
}

# LuaJIT v2.1-20231117 and Kong 3.7.1's three reverts, which are what .1 changed (see the doc).
luajit_tree() {
  local dest=$1 kong_patches=build/openresty/patches p
  export_tree luajit "$dest"
  (cd "$dest" && patch -p1 -s <"$ORROOT/patches/luajit-win32-default-paths.patch" && rm -r doc) ||
    die "luajit-win32-default-paths.patch"
  for p in 03_Revert_Detect_SSE4.2_support_dynamically \
    04_Revert_bugfix_fixed_compatibility_regression_with_Mi \
    05_Revert_Adjust_SSE4.1_str_hash_to_replace_hash_sparse; do
    show_file kong "$kong_patches/LuaJIT-2.1-20231117_$p.patch" "$KONG_371" |
      sed 's|bundle/LuaJIT-2.1-20231117/|bundle/LuaJIT-2.1-20231117.1/|g' |
      (cd "$dest/../.." && patch -p1 -s) || die "Kong 3.7.1's LuaJIT patch $p"
  done
}

openresty_tree() {
  local tree="$WORK/openresty-$OPENRESTY_VERSION" name dir fix
  ORROOT="$WORK/src/openresty"
  export_tree openresty "$ORROOT"
  rm -rf "$tree" && mkdir -p "$tree/bundle"
  say "1/4 OpenResty $OPENRESTY_VERSION: the bundle from the mirrors"
  export_tree nginx "$tree/bundle/nginx-$NGINX_VERSION"
  cp "$tree/bundle/nginx-$NGINX_VERSION/auto/configure" "$tree/bundle/nginx-$NGINX_VERSION/configure"
  openresty_nginx_patches "$ORROOT" "$tree/bundle/nginx-$NGINX_VERSION"
  cp "$ORROOT/patches/nginx-$NGINX_VERSION-no_pool.patch" "$tree/bundle/nginx-no_pool.patch"
  luajit_tree "$tree/bundle/$LUAJIT_DIR"
  while read -r name dir fix; do
    [ -n "$name" ] || continue
    export_tree "$name" "$tree/bundle/$dir"
    if [ "$fix" = d ]; then
      sed -i 's/\$(DESTDIR)\//$(DESTDIR)/g' "$tree/bundle/$dir/Makefile"
    fi
  done <<<"$BUNDLE_DIRS"
  cp "$ORROOT/util/configure" "$tree/configure"
  cp "$ORROOT/util/install" "$tree/bundle/install"
  cp "$ORROOT/README.markdown" "$ORROOT/COPYRIGHT" "$tree/"
  # restydoc's index and pages, which mirror-tarballs generates from nginx.org's documentation
  # (not in the mirrors): empty, as `make install` copies them.
  mkdir -p "$tree/bundle/pod" && : >"$tree/bundle/resty.index"

  say "1/4 Kong 3.9.3's patches to OpenResty"
  mkdir -p "$WORK/src/kong-patches"
  local list
  list=$(git --git-dir="$(git_dir Kong+kong)" ls-tree --name-only "$(pin kong | cut -d' ' -f2)" \
    build/openresty/patches/ | sort)
  for p in $list; do
    show_file kong "$p" | (cd "$tree" && patch -p1 -s --forward) >>"$WORK/logs/kong-patches.log" 2>&1 ||
      die "Kong's patch ${p##*/} did not apply (see $WORK/logs/kong-patches.log)"
  done
  say "1/4 $(printf '%s\n' $list | wc -l) patches applied"
}

build_luajit() {
  local tree="$WORK/openresty-$OPENRESTY_VERSION/bundle/$LUAJIT_DIR"
  say "1/4 LuaJIT (about 1 minute)"
  # LUA_ROOT: Kong's patch _02 makes LuaJIT's default package.path and cpath follow it, so the
  # rocks installed in that tree (step 3) are found without LUA_PATH, as in Kong's build.
  make -C "$tree" -j"$JOBS" PREFIX="$PREFIX/openresty/luajit" LUA_ROOT="$PREFIX/openresty/luajit" \
    XCFLAGS="-DLUAJIT_ENABLE_LUA52COMPAT -DLUAJIT_VERSION=\\\"LuaJIT\ 2.1.0-20231117.1\\\"" \
    LDFLAGS="-Wl,-rpath,$PREFIX/kong/lib -Wl,-rpath,$PREFIX/openresty/lualib" \
    >"$WORK/logs/luajit.log" 2>&1 || die "LuaJIT did not build (see $WORK/logs/luajit.log)"
  make -C "$tree" install PREFIX="$PREFIX/openresty/luajit" LUA_ROOT="$PREFIX/openresty/luajit" >>"$WORK/logs/luajit.log" 2>&1 ||
    die "LuaJIT did not install"
}
