# Every source Kong 3.9.3 is built from here: the fetch mirror it comes from and the commit.
# Read from Kong's own build files at tag 3.9.3 (.requirements, build/openresty/*.bzl) and from
# OpenResty's util/mirror-tarballs at v1.25.3.2; docs/kong-from-source.md has the reasoning.
# Format: NAME MIRROR COMMIT (MIRROR is <owner>+<name> under the sources directory).
KONG_PINS='
kong                     Kong+kong                          a643428bc4d5397152164a63bcc0f8bc65fce69d
openresty                openresty+openresty                800f908fd2959f0d139eb36698fdad7fb686eea1
nginx                    nginx+nginx                        b8fb83b8d2e7ca03d43176b767f1fc657f1c1ee2
luajit                   openresty+luajit2                  4182d6bf37e9f8d1cb5d6e83b1db66de84b95101
ngx_lua                  openresty+lua-nginx-module         0e769b76432df91e5f10aa56a56858e8a190faf7
ngx_stream_lua           openresty+stream-lua-nginx-module  cafa6f55333541d1c78767a286fa434c97574a4c
ngx_devel_kit            vision5+ngx_devel_kit              91e30eb05085e7f9762f130cbb883a0e753cf74d
echo                     openresty+echo-nginx-module        8376edc2bbc427e8812d105f4061045449e0db2b
headers_more             openresty+headers-more-nginx-module 06dc0be56e5ec9f7fd814e881b066b5540a85bec
lua_cjson                openresty+lua-cjson                2bfad8f5eeb821357d2ada29506e864ff7ec947e
lua_redis_parser         openresty+lua-redis-parser         2c5a4e960da7870ab29dd6001ba6a2828ce77760
lua_rds_parser           openresty+lua-rds-parser           621e6b978983b4779435a56480ea636eae93d65d
lua_resty_core           openresty+lua-resty-core           812b2d3871eb0d8da8f0198759ad9164f0eccac6
lua_resty_lrucache       openresty+lua-resty-lrucache       a79615ec9dc547fdb4aaee59ef8f5a50648ce9fd
lua_resty_dns            openresty+lua-resty-dns            273db4f348d4676f554c5319a902e7b836153192
lua_resty_memcached      openresty+lua-resty-memcached      122cba2b1cd36cddd941444bcdda7ba37aaad021
lua_resty_redis          openresty+lua-resty-redis          d7c25f1b339d79196ff67f061c547a73a920b580
lua_resty_mysql          openresty+lua-resty-mysql          64effe8ff8dd968b7621d8468d06994513576076
lua_resty_limit_traffic  openresty+lua-resty-limit-traffic  e80969b79afcc94856b095fe6163ace21387c6b6
lua_resty_upload         openresty+lua-resty-upload         03704aee42f7135e7782688d8a9af63a16015edc
lua_resty_string         openresty+lua-resty-string         b192878f6ed31b0af237935bbc5a8110a3c2256c
or_lua_resty_websocket   openresty+lua-resty-websocket      68ce66be310026800923a04cff5ecb3d04d7a5d5
lua_resty_lock           openresty+lua-resty-lock           9dc550e56b6f3b1a2f1a31bb270a91813b5b6861
lua_resty_upstream_healthcheck openresty+lua-resty-upstream-healthcheck 6ade2a860a0bc23c471c7c70751682263451eef5
lua_tablepool            openresty+lua-tablepool            94d3a5f43df6526fbaeb0f06873862f964766683
lua_resty_signal         openresty+lua-resty-signal         d07163e8cfa673900e66048cd2a1f18523aecf16
lua_resty_shell          openresty+lua-resty-shell          ea23b3d6d4a4b3c475a3e0b530469343694e775c
resty_cli                openresty+resty-cli                3022948ef3d670b915bcf7027bcdd917591b96e4
opm                      openresty+opm                      315e56b907eb5edefa704df0b0fe286998e0317e
lua_kong_nginx_module    Kong+lua-kong-nginx-module         ddc1f9533a7bc03c852c094dfe976e283620db11
lua_resty_events         Kong+lua-resty-events              bc85295b7c23eda2dbf2b4acec35c93f77b26787
lua_resty_lmdb           Kong+lua-resty-lmdb                9da0e9f3313960d06e2d8e718b7ac494faa500f1
lmdb                     openldap+openldap                  3a29a24777c82a0165de813ae696a5068b5add30
lua_resty_websocket      Kong+lua-resty-websocket           966c69c39f03029b9b42ec0f8e55aaed7d6eebc0
ngx_wasm_module          Kong+ngx_wasm_module               9136e463a6f1d80755ce66c88c3ddecd0eb5e25d
'
# Kong 3.7.1: its LuaJIT revert patches stand in for v2.1-20231117.1, which no mirror holds.
KONG_371=e89feb5b85286394330968054c02ac851fd2b781
# Wasmtime's C API from crates.io (Kong downloads the same version prebuilt).
WASMTIME_VERSION=26.0.0

# Kong's other compiled libraries (.requirements at 3.9.3; ADA is a release zip there, here the tag).
KONG_PINS+='
atc_router               Kong+atc-router                    ffd11db657115769bf94f0c4f915f98300bc26b6
lua_resty_simdjson       Kong+lua-resty-simdjson            7e6466ce91b2bc763b45701a4f055e94b1e8143b
ada                      ada-url+ada                        1cca580d8586ca3818d43e0bb11c7a47d77ca5ee
aws_sdk_js               aws+aws-sdk-js                     0c3208c25d4f17727611f7b83ac9e95dd2e82ae6
lua_resty_hmac           jkeys089+lua-resty-hmac            5f60e1a28b9fdd7939f0e1738171f0ca5fe22978
'
# The rocks (step 3): NAME MIRROR COMMIT VERSION. NAME is the rock's name; VERSION the one
# kong-3.9.3-0.rockspec asks for, at its tag; for a rock only a rock needs, the newest tag its
# constraint allows before Kong 3.9.3's date. Stand-ins, no mirror holding the version asked:
# kong-pgmoon 1.16.2 (Kong's fork) -> leafo/pgmoon v1.16.0 (Postgres only); lua-messagepack 0.5.4
# -> 0.5.2 (GitHub mirror; only Kong's external plugin servers load it); binaryheap 0.4 has no tag
# (the commit of its 0.4 rockspec). lua-cjson (lua-resty-ljsonschema's) is OpenResty's cjson.so.
# aws_sdk_js is the AWS JS SDK v2.751.0 that lua-resty-aws's update_api_files.sh turns into Lua;
# lua_resty_hmac is lua-resty-jwt's submodule at its gitlink.
ROCK_PINS='
inspect                  kikito+inspect.lua                 691eea1fc6346be131e9749150976010f13e84f7 3.1.3
luasec                   lunarmodules+luasec                4c06287052d68fdbe7429b8f967cdc8ee94aa44a 1.3.2
luasocket                lunarmodules+luasocket             22cd5833fcc0e272f26004a79c8545e959ba406b 3.0-rc1
penlight                 lunarmodules+Penlight              e2e5f6477bd060f0d94349662f24ac1ecfdf543e 1.14.0
lua-resty-http           ledgetech+lua-resty-http           183310324026120ab7eaf5dd82b9be90ae63aadf 0.17.2
lua-resty-jit-uuid       thibaultcha+lua-resty-jit-uuid     64ae38de75c9d58f330d89e140ac872771c19223 0.0.7
lua-ffi-zlib             hamishforbes+lua-ffi-zlib          61e95cb434e4047c8bc65a180c293a05bf754416 0.6
multipart                Kong+lua-multipart                 46d7804efa69146abc39415254687b5a7b507fe1 0.5.9
version                  Kong+version.lua                   58fabb26ce14453764f001d3d073bb5b0722038e 1.0.1
kong-lapis               Kong+lapis                         3f1d38370b1b3bc133a9ff16aeec39d7a12f16b6 1.16.0.1
kong-pgmoon              leafo+pgmoon                       1c193f62fbc526248ed7e1c53362a681277feb9b 1.16.0
luatz                    daurnimator+luatz                  7d97ab04ead82d873242f80524c966b6bb46fee8 0.4
lua_system_constants     Kong+lua-system-constants          ab7a25604f06a98ca8d1da1d34eaef8f6e280842 0.1.4
lyaml                    gvvaughan+lyaml                    1afb1f870ae486097f79586502f4254d6074afcb 6.2.8
luasyslog                lunarmodules+luasyslog             224ce0954ca93723ca101fb1a154fd0ac2571388 2.0.1
lua_pack                 Kong+lua-pack                      495bf30606b9744140258df349862981e3ee7820 2.0.0
binaryheap               Tieske+binaryheap.lua              478d40df3ff32d2f3427eeb4104a6216a64f0669 0.4
luaxxhash                szensk+luaxxhash                   7bcca4f6da3385ca43eb2e3378ae7a66762bb4df 1.0.0
lua-protobuf             starwing+lua-protobuf              3f9ffd485262edbcde618296c07b862ba5a74b38 0.5.2
lua-resty-healthcheck    Kong+lua-resty-healthcheck         ab2efa7499283548f8494b65c4314ee9eea09623 3.1.0
lua-messagepack          scintill+lua-MessagePack-mirror    0ea1022445a7863922af6e12056926b2e6474981 0.5.2
lua-resty-aws            Kong+lua-resty-aws                 2e622c0e83b21b7196d2739ab7b3ee158e3491ca 1.5.4
lua-resty-openssl        fffonion+lua-resty-openssl         a900c5f5897448c181dd58073e51cdeeb3fd0029 1.5.1
lua-resty-gcp            Kong+lua-resty-gcp                 990f80e13d77c6f9426efc1cf6406bd8de9932a5 0.0.13
lua-resty-counter        Kong+lua-resty-counter             a0f43bb7bf3c54cf51d33a76a957ccb1fb119cdf 0.2.1
lua-resty-ipmatcher      api7+lua-resty-ipmatcher           62d4c44d67227e8f3fe02331c2f8b90fe0d7ccd1 0.6.1
lua-resty-acme           fffonion+lua-resty-acme            001abdd9dbf448baec4d911b533f52cc58c61a56 0.15.0
lua-resty-session        bungle+lua-resty-session           5f2aed616d16fa7ca04dc40e23d6941740cd634d 4.0.5
lua-resty-timer-ng       Kong+lua-resty-timer-ng            aec8b5f109e30cabf2f453222a374dc0bca56157 0.2.7
lpeg                     roberto-ieru+LPeg                  73a96935337d78d0e1015d7ccce6cf7470c192c4 1.1.0
lua-resty-ljsonschema    Tieske+lua-resty-ljsonschema       4fd808de66a0029bef62e21867dedf68671d5e91 1.2.0
lua-resty-snappy         bungle+lua-resty-snappy            6fa5bd87e515f33e3de3384eb01b526504dfdbd7 1.0
lua-resty-ada            bungle+lua-resty-ada               d62989413e2475dc74e12e782a6895e9edfbdb13 1.1.0
luafilesystem            lunarmodules+luafilesystem         a186cca5833691e830ed255e38ace8ff6b870dbf 1.9.0
lua-resty-timer          Kong+lua-resty-timer               b23268b4552d57c4bdd0e8412682457c26abb9af 1.1.0
lua-resty-jwt            cdbattags+lua-resty-jwt            b3d5c085643fa95099e72a609c57095802106ff9 0.2.3
lua-resty-luasocket      Tieske+lua-resty-luasocket         7cd80d2aa4f4bea9d90ddfcd5ad273badf2adc77 1.1.2
ansicolors               kikito+ansicolors.lua              a209800d08a2b6a2445d2033cece0ed29fee1a2e 1.0.2
date                     Tieske+date                        2be47e4bca392c542509ac55d33d64bd60fc9402 2.2.1
etlua                    leafo+etlua                        20bc7130914074fd7bd2797d3bc912119c022dd8 1.3.0
loadkit                  leafo+loadkit                      2954ab128559e22fbaafa928e9a4f0f08e99a12f 1.1.0
net-url                  golgote+neturl                     fd0df85f44b545d91c2840dc4339abb3656d031d 1.2
luaexpat                 lunarmodules+luaexpat              947d2e9596ac1ff9a7c61b27e964db2db0722c88 1.5.2
lualogging               lunarmodules+lualogging            465c994788f1bc18fca950934fa5ec9a909f496c 1.8.2
'
KONG_PINS+=$ROCK_PINS
# simdjson v3.9.5: lua-resty-simdjson's src/simdjson.h is absent from its mirror (see rocks.sh).
KONG_PINS+='
simdjson                 simdjson+simdjson                  3240d55bcc9070456b2eab65b9ae9bace3783d75
'
