-- The path a Kong user has today, for bench/kong.sh: Kong's rate-limiting plugin with
-- `policy: redis` in realtime, as Kong runs it in Lua (our own code, written from the facts in
-- ../shared/reference/kong-behaviour.md): per configured period one EVAL of an
-- INCR-then-EXPIRE-on-first script, which answers the usage before this request, over a
-- cosocket from the worker's pool (setkeepalive). Only what the benchmark needs: limit by
-- client IP, no SELECT or AUTH, Kong's key format and X-RateLimit headers.
local M = {}

local SCRIPT = "local n = redis.call('INCR', KEYS[1]) "
  .. "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n - 1"
-- Period starts are whole multiples of the period (Kong takes calendar starts for month and
-- year; the benchmark only needs a key per period).
local SECONDS = { second = 1, minute = 60, hour = 3600, day = 86400, year = 31536000 }
local NIL_ID = "00000000-0000-0000-0000-000000000000"

local function bulk(s)
  return "$" .. #s .. "\r\n" .. s .. "\r\n"
end

local function eval(sock, key, ttl)
  local cmd = "*5\r\n" .. bulk("EVAL") .. bulk(SCRIPT) .. bulk("1") .. bulk(key) .. bulk(tostring(ttl))
  local ok, err = sock:send(cmd)
  if not ok then
    return nil, err
  end
  local line, rerr = sock:receive("*l")
  if not line then
    return nil, rerr
  end
  if line:sub(1, 1) ~= ":" then
    return nil, line
  end
  return tonumber(line:sub(2))
end

-- access(port, limits): counts the request in Redis at 127.0.0.1:port for every period of
-- `limits` ({hour = 1000000}); 429 past a limit, 500 if Redis fails (fault_tolerant false).
function M.access(port, limits)
  local sock = ngx.socket.tcp()
  sock:settimeout(2000)
  local ok, err = sock:connect("127.0.0.1", port)
  if not ok then
    ngx.log(ngx.ERR, "failed to connect to Redis: ", err)
    return ngx.exit(500)
  end
  local now = ngx.time()
  local ip = ngx.var.remote_addr
  local blocked = false
  for period, limit in pairs(limits) do
    local seconds = SECONDS[period]
    local start = now - now % seconds
    local key = "ratelimit:" .. NIL_ID .. ":" .. NIL_ID .. ":" .. ip .. ":" .. (start * 1000) .. ":" .. period
    local used, eerr = eval(sock, key, seconds)
    if not used then
      ngx.log(ngx.ERR, "failed to get usage: ", eerr)
      sock:close()
      return ngx.exit(500)
    end
    local remaining = limit - used
    local name = period:sub(1, 1):upper() .. period:sub(2)
    ngx.header["X-RateLimit-Limit-" .. name] = limit
    ngx.header["X-RateLimit-Remaining-" .. name] = math.max(0, remaining - 1)
    if remaining <= 0 then
      blocked = true
    end
  end
  sock:setkeepalive(60000, 64)
  if blocked then
    ngx.status = 429
    ngx.header["Content-Type"] = "application/json; charset=utf-8"
    ngx.say('{"message":"API rate limit exceeded"}')
    return ngx.exit(429)
  end
end

return M
