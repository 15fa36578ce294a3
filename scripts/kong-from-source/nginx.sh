# Step 2: Kong's nginx modules and ngx_wasm_module, configured into the patched OpenResty with
# Kong 3.9.3's options (build/openresty/BUILD.openresty.bazel), then built and installed into
# $PREFIX/openresty. Wasmtime is linked statically (Kong ships libwasmtime.so beside it).

# Kong's modules as trees beside the OpenResty tree; lua-resty-lmdb gets its LMDB submodule and
# Kong's cross patch, as Kong's build does.
kong_module_trees() {
  local m="$WORK/modules"
  export_tree lua_kong_nginx_module "$m/lua-kong-nginx-module"
  export_tree lua_resty_events "$m/lua-resty-events"
  export_tree lua_resty_lmdb "$m/lua-resty-lmdb"
  export_tree lmdb "$WORK/src/openldap"
  rm -rf "$m/lua-resty-lmdb/lmdb" && mkdir -p "$m/lua-resty-lmdb/lmdb/libraries"
  cp -r "$WORK/src/openldap/libraries/liblmdb" "$m/lua-resty-lmdb/lmdb/libraries/"
  show_file kong build/openresty/lua-resty-lmdb-cross.patch |
    (cd "$m/lua-resty-lmdb" && patch -p1 -l -s) || die "lua-resty-lmdb-cross.patch"
  # Named as in Kong's build: Kong writes `load_module` into nginx.conf only when nginx's
  # configure line holds --add-dynamic-module=.../ngx_wasmx_module (conf_loader/parse.lua).
  export_tree ngx_wasm_module "$m/ngx_wasmx_module"
}

build_nginx() {
  local tree="$WORK/openresty-$OPENRESTY_VERSION" m="$WORK/modules" lj="$PREFIX/openresty/luajit"
  local wt="$WORK/wasmtime-dist"
  [ -x "$lj/bin/luajit" ] || die "LuaJIT is not built: run step 1 (openresty) first"
  [ -f "$wt/lib/libwasmtime.a" ] || build_wasmtime
  kong_module_trees
  say "2/4 configure OpenResty with Kong's modules and ngx_wasm_module"
  (cd "$tree" && NGX_WASM_RUNTIME=wasmtime NGX_WASM_RUNTIME_INC="$wt/include" \
    NGX_WASM_RUNTIME_LIB="$wt/lib" NGX_WASM_RUNTIME_NO_RPATH=1 \
    NGX_WASM_RUNTIME_LD_OPT="$wt/lib/libwasmtime.a -lm -ldl -lpthread" \
    ./configure --prefix="$PREFIX/openresty" \
    --with-pcre-jit --with-http_ssl_module --with-http_sub_module --with-http_realip_module \
    --with-http_stub_status_module --with-http_v2_module --with-stream_realip_module \
    --with-stream_ssl_preread_module \
    --without-http_encrypted_session_module --without-http_xss_module \
    --without-http_coolkit_module --without-http_set_misc_module \
    --without-http_form_input_module --without-http_srcache_module \
    --without-http_lua_upstream_module --without-http_array_var_module \
    --without-http_memc_module --without-http_redis2_module --without-http_redis_module \
    --without-http_rds_json_module --without-http_rds_csv_module \
    --with-luajit="$lj" --with-cc-opt="-I$lj/include" --with-ld-opt="-L$lj/lib" \
    --with-ld-opt="-Wl,-rpath,$PREFIX/kong/lib -Wl,-rpath,$PREFIX/openresty/lualib -Wl,-rpath,$lj/lib" \
    -j"$JOBS" \
    --add-module="$m/lua-kong-nginx-module" --add-module="$m/lua-kong-nginx-module/stream" \
    --add-module="$m/lua-resty-lmdb" --add-module="$m/lua-resty-events" \
    --with-cc-opt="-DNGX_WASM_HOST_PROPERTY_NAMESPACE=kong" \
    --with-compat --add-dynamic-module="$m/ngx_wasmx_module") \
    >"$WORK/logs/configure.log" 2>&1 || die "OpenResty's configure failed (see $WORK/logs/configure.log)"
  say "2/4 build OpenResty (about 5 minutes on 2 cores)"
  (cd "$tree" && make -j"$JOBS" && make install) >"$WORK/logs/make.log" 2>&1 ||
    die "OpenResty did not build (see $WORK/logs/make.log)"
  # As Kong's build: the openresty name, and Kong's own resty.websocket instead of OpenResty's.
  ln -srf "$PREFIX/openresty/nginx/sbin/nginx" "$PREFIX/openresty/bin/openresty"
  rm -rf "$PREFIX/openresty/lualib/resty/websocket"
  "$PREFIX/openresty/nginx/sbin/nginx" -v 2>&1 | grep -q "openresty/$OPENRESTY_VERSION" ||
    die "nginx -v does not say openresty/$OPENRESTY_VERSION"
  [ -f "$PREFIX/openresty/nginx/modules/ngx_wasmx_module.so" ] || die "no ngx_wasmx_module.so"
}
