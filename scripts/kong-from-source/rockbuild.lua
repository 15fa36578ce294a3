-- A stand-in for `luarocks make` (step 3 of scripts/kong-from-source.sh). It does what `luarocks make` does with a "builtin" rockspec on Linux: merges
-- build.platforms.unix and .linux into build, installs each module of build.modules (a .lua file
-- as LUADIR/a/b.lua or a/b/init.lua; C sources compiled with $(CC) $(CFLAGS) -I$(LUA_INCDIR) and
-- linked with $(LIBFLAG), as LIBDIR/a/b.so) and the files of build.install.lua/.lib; $(VAR) in
-- the rockspec comes from the VAR=VALUE arguments. It writes the files it installed to MANIFEST.
-- usage: luajit rockbuild.lua ROCKSPEC SRCDIR LUADIR LIBDIR OBJDIR MANIFEST [VAR=VALUE]...
local spec_file, srcdir, luadir, libdir, objdir, manifest = unpack(arg, 1, 6)
local vars = { CC = "gcc", CFLAGS = "-O2 -fPIC", LIBFLAG = "-shared" }
for i = 7, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  assert(k, "bad argument " .. arg[i])
  vars[k] = v
end

local installed, made = {}, {}
local function q(s) return "'" .. (tostring(s):gsub("'", "'\\''")) .. "'" end
local function run(cmd)
  print(cmd)
  io.stdout:flush()
  local ok = os.execute(cmd)
  if not (ok == true or ok == 0) then error("failed: " .. cmd, 0) end
end
local function subst(s)
  return (s:gsub("%$%(([%w_]+)%)", function(k)
    return vars[k] or error("rockspec variable $(" .. k .. ") is not set", 0)
  end))
end
local function dirname(p) return p:match("^(.*)/[^/]*$") or "." end
local function mkdir(d)
  if not made[d] then run("mkdir -p " .. q(d)) made[d] = true end
end
local absent = {}
for f in (vars.ABSENT or ""):gmatch("[^:]+") do absent[f] = true end
local function copy(from, to)
  if absent[from] then print("absent from the mirror, not installed: " .. from) return end
  local f = assert(io.open(srcdir .. "/" .. from, "rb"))
  local data = f:read("*a")
  f:close()
  mkdir(dirname(to))
  local o = assert(io.open(to, "wb"))
  o:write(data)
  o:close()
  installed[#installed + 1] = to
end
local function merge(dst, src)
  for k, v in pairs(src) do
    if type(v) == "table" then
      if type(dst[k]) ~= "table" then dst[k] = {} end
      merge(dst[k], v)
    else
      dst[k] = v
    end
  end
end

local env = setmetatable({}, { __index = _G })
local chunk = assert(loadfile(spec_file))
setfenv(chunk, env)
chunk()
local build = assert(env.build, "the rockspec has no build table")
for _, p in ipairs({ "unix", "linux" }) do
  if build.platforms and build.platforms[p] then merge(build, build.platforms[p]) end
end
local btype = build.type or "builtin"
if btype ~= "builtin" and btype ~= "none" and btype ~= "module" then
  error("build type " .. btype .. " is not supported", 0)
end

local function lua_dest(name, file)
  local rel = name:gsub("%.", "/")
  if file:match("([^/]+)$") == "init.lua" and not name:match("%.init$") then
    rel = rel .. "/init"
  end
  return luadir .. "/" .. rel .. ".lua"
end

local built = {}
local function c_module(name, info)
  local sources = info
  if type(info) == "table" and not info[1] then sources = info.sources end
  if type(sources) == "string" then sources = { sources } end
  assert(type(sources) == "table" and sources[1], "module " .. name .. " has no sources")
  local flags = { "-I" .. q(vars.LUA_INCDIR) }
  if type(info) == "table" then
    for _, d in ipairs(info.defines or {}) do flags[#flags + 1] = "-D" .. q(subst(d)) end
    for _, d in ipairs(info.incdirs or {}) do flags[#flags + 1] = "-I" .. q(subst(d)) end
  end
  local odir = objdir .. "/" .. name
  mkdir(odir)
  local objs = {}
  for _, s in ipairs(sources) do
    local o = odir .. "/" .. s:gsub("[/.]", "_") .. ".o"
    run("cd " .. q(srcdir) .. " && " .. vars.CC .. " " .. vars.CFLAGS .. " "
        .. table.concat(flags, " ") .. " -c " .. q(s) .. " -o " .. q(o))
    objs[#objs + 1] = q(o)
  end
  local libs = {}
  if type(info) == "table" then
    for _, d in ipairs(info.libdirs or {}) do libs[#libs + 1] = "-L" .. q(subst(d)) end
    for _, l in ipairs(info.libraries or {}) do libs[#libs + 1] = "-l" .. q(subst(l)) end
  end
  local out = libdir .. "/" .. name:gsub("%.", "/") .. ".so"
  mkdir(dirname(out))
  run(vars.CC .. " " .. vars.LIBFLAG .. " -o " .. q(out) .. " " .. table.concat(objs, " ")
      .. " " .. table.concat(libs, " "))
  installed[#installed + 1] = out
  built[(name:match("([^.]+)$")) .. ".so"] = true
end

for name, info in pairs(build.modules or {}) do
  if type(info) == "string" and info:match("%.lua$") then
    copy(info, lua_dest(name, info))
  else
    c_module(name, info)
  end
end
local install = build.install or {}
for k, file in pairs(install.lua or {}) do
  copy(file, lua_dest(type(k) == "number" and file:match("([^/]+)%.lua$") or k, file))
end
for k, file in pairs(install.lib or {}) do
  local base = file:match("([^/]+)$")
  if not built[base] then
    copy(file, libdir .. "/" .. (type(k) == "number" and base or k:gsub("%.", "/") .. ".so"))
  end
end
for _, what in ipairs({ "bin", "conf" }) do
  for _, file in pairs(install[what] or {}) do print("not installed (" .. what .. "): " .. file) end
end
table.sort(installed)
local m = assert(io.open(manifest, "w"))
m:write(table.concat(installed, "\n"), "\n")
m:close()
print(#installed .. " files installed")
