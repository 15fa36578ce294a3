-- The RESP bridge for Kong: turns a filter's tunnelled call (POST /, Host = the Redis node, body =
-- a RESP pipeline [AUTH] [SELECT] command... QUIT) into raw TCP to that node over a pooled
-- cosocket, and answers 200 with exactly one RESP reply per command. See kong/README.md.
--
-- Settings (nginx variables of the bridge's server block, see redis-bridge.conf):
--   $redis_bridge_allow     nodes a filter may reach: "host:port" exactly or "host:*" (any port of
--                           that host, for Sentinel and Cluster discovery), separated by spaces
--   $redis_bridge_timeout   time budget in ms of one exchange (connect, send, every read) when
--                           the call names none in its x-redis-timeout header
--   $redis_bridge_pool      idle connections kept per node and credentials
--
-- TLS: a call with x-redis-tls (verify | on) and x-redis-server-name goes over TLS
-- (sslhandshake; verification against lua_ssl_trusted_certificate), or fails with 502.
--
-- Statuses: 200 replies; 400 malformed call; 403 node not allowed; 502 node unreachable or
-- closed the connection; 504 timeout. QUIT is answered here (+OK) so the pooled connection stays
-- open; replies are counted by parsing RESP, so a pooled connection is never read past its
-- answers. A connection whose AUTH or SELECT failed is closed, never pooled.

local tcp = ngx.socket.tcp
local byte, sub, find, lower = string.byte, string.sub, string.find, string.lower
local tonumber, concat = tonumber, table.concat

local _M = {}

local STAR, DOLLAR, PLUS, MINUS, COLON = 42, 36, 43, 45, 58
local MAX_DEPTH_ITEMS = 1000000

-- Parsed allowlists, by the variable's text.
local allow_cache = {}

local function allowlist(text)
  local parsed = allow_cache[text]
  if parsed then
    return parsed
  end
  parsed = { exact = {}, hosts = {} }
  for entry in string.gmatch(text or "", "%S+") do
    local host, port = string.match(entry, "^(.*):([^:]+)$")
    if host then
      host = lower(host)
      if port == "*" then
        parsed.hosts[host] = true
      else
        parsed.exact[host .. ":" .. port] = true
      end
    end
  end
  allow_cache[text] = parsed
  return parsed
end

-- "host:port" or "[v6]:port" -> host, port
local function split_node(node)
  local host, port = string.match(node, "^%[([^%]]+)%]:(%d+)$")
  if not host then
    host, port = string.match(node, "^([^:/%s]+):(%d+)$")
  end
  port = tonumber(port)
  if not host or not port or port < 1 or port > 65535 then
    return nil
  end
  return lower(host), port
end

-- Walks the request pipeline: returns the number of commands, the byte length of the leading
-- AUTH/SELECT commands (the connection's credentials), whether the last command is QUIT and where
-- it starts. nil and a reason if the body is not a pipeline of arrays of bulk strings.
local function scan_request(body)
  local pos, len = 1, #body
  local count, preamble_end, preamble_open = 0, 1, true
  local last_start, last_name
  while pos <= len do
    if byte(body, pos) ~= STAR then
      return nil, "command " .. (count + 1) .. " is not an array"
    end
    local eol = find(body, "\r\n", pos, true)
    if not eol then
      return nil, "truncated command"
    end
    local n = tonumber(sub(body, pos + 1, eol - 1))
    if not n or n < 1 then
      return nil, "bad array length"
    end
    local start = pos
    pos = eol + 2
    local name
    for i = 1, n do
      if byte(body, pos) ~= DOLLAR then
        return nil, "argument is not a bulk string"
      end
      eol = find(body, "\r\n", pos, true)
      if not eol then
        return nil, "truncated argument"
      end
      local blen = tonumber(sub(body, pos + 1, eol - 1))
      if not blen or blen < 0 then
        return nil, "bad bulk length"
      end
      if i == 1 then
        name = lower(sub(body, eol + 2, eol + 1 + blen))
      end
      pos = eol + 2 + blen + 2
      if pos - 1 > len then
        return nil, "truncated argument"
      end
    end
    count = count + 1
    if preamble_open and (name == "auth" or name == "select") then
      preamble_end = pos
    else
      preamble_open = false
    end
    last_start, last_name = start, name
  end
  return count, preamble_end - 1, last_name == "quit", last_start
end

-- Sets the socket's timeout to what is left before `deadline` (ms, ngx.now based); false once
-- it has passed.
local function budget(sock, deadline)
  local left = deadline - ngx.now() * 1000
  if left < 1 then
    return false
  end
  sock:settimeout(left)
  return true
end

-- Reads one complete reply (nested arrays included) into `out`, within `deadline`. Returns
-- true, or nil and the socket's error.
local function read_reply(sock, out, deadline)
  local pending = 1
  local items = 0
  while pending > 0 do
    if not budget(sock, deadline) then
      return nil, "timeout"
    end
    local line, err = sock:receive("*l")
    if not line then
      return nil, err
    end
    out[#out + 1] = line
    out[#out + 1] = "\r\n"
    pending = pending - 1
    items = items + 1
    if items > MAX_DEPTH_ITEMS then
      return nil, "reply too large"
    end
    local kind = byte(line, 1)
    if kind == DOLLAR then
      local n = tonumber(sub(line, 2))
      if not n then
        return nil, "bad bulk length from redis"
      end
      if n >= 0 then
        if not budget(sock, deadline) then
          return nil, "timeout"
        end
        local data, rerr = sock:receive(n + 2)
        if not data then
          return nil, rerr
        end
        out[#out + 1] = data
      end
    elseif kind == STAR then
      local n = tonumber(sub(line, 2))
      if not n then
        return nil, "bad array length from redis"
      end
      if n > 0 then
        pending = pending + n
      end
    elseif kind ~= PLUS and kind ~= MINUS and kind ~= COLON then
      return nil, "unexpected reply type from redis"
    end
  end
  return true
end

local function finish(status, message)
  ngx.status = status
  ngx.header["Content-Type"] = "text/plain"
  ngx.say(message)
  return ngx.exit(status)
end

local function failed(err)
  if err == "timeout" then
    return finish(504, "redis timeout")
  end
  return finish(502, "redis: " .. tostring(err))
end

function _M.serve()
  if ngx.req.get_method() ~= "POST" then
    return finish(405, "POST a RESP pipeline")
  end
  local node = ngx.var.http_host or ""
  local host, port = split_node(node)
  if not host then
    return finish(400, "Host must be the Redis node host:port, got " .. node)
  end
  local allow = allowlist(ngx.var.redis_bridge_allow)
  local key = host .. ":" .. port
  if not (allow.exact[key] or allow.hosts[host]) then
    ngx.log(ngx.WARN, "redis bridge: node not allowed: ", key)
    return finish(403, "node not allowed: " .. key)
  end

  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    if ngx.req.get_body_file() then
      return finish(413, "pipeline larger than client_body_buffer_size")
    end
    return finish(400, "empty pipeline")
  end
  local count, preamble_len, quit, quit_at = scan_request(body)
  if not count then
    return finish(400, "malformed pipeline: " .. preamble_len)
  end
  local preamble = sub(body, 1, preamble_len)
  local preamble_count = 0
  if preamble_len > 0 then
    local n = scan_request(preamble)
    preamble_count = n or 0
  end
  local send_to = quit and (quit_at - 1) or #body
  local expected = count - (quit and 1 or 0)

  -- The whole exchange (connect, send, every read) fits in the filter's time budget, so the
  -- bridge answers 504 before the engine's own dispatch timeout fires.
  local timeout = tonumber(ngx.var.http_x_redis_timeout)
    or tonumber(ngx.var.redis_bridge_timeout)
    or 2000
  ngx.update_time()
  local deadline = ngx.now() * 1000 + timeout
  local sock = tcp()
  sock:settimeout(timeout)
  -- TLS as the filter asks (its ssl, ssl_verify, server_name): "verify" or "on". A TLS
  -- connection is pooled apart from plaintext ones, and never falls back to plaintext.
  local tls = ngx.var.http_x_redis_tls
  if tls ~= nil and tls ~= "verify" and tls ~= "on" then
    return finish(400, "x-redis-tls must be verify or on")
  end
  local server_name = ngx.var.http_x_redis_server_name
  if server_name == "" then
    server_name = nil
  end
  local pool = key .. "#" .. ngx.crc32_long(preamble)
  if tls then
    pool = pool .. "#tls:" .. tls .. ":" .. (server_name or "")
  end
  local ok, err = sock:connect(host, port, {
    pool = pool,
    pool_size = tonumber(ngx.var.redis_bridge_pool) or 64,
  })
  if not ok then
    return failed(err)
  end
  if tls and (sock:getreusedtimes() or 0) == 0 then
    -- As Kong's own Redis connector: SNI and the name checked are server_name; without one,
    -- the chain is verified (against lua_ssl_trusted_certificate) but no name.
    local session, herr = sock:sslhandshake(nil, server_name, tls == "verify")
    if not session then
      sock:close()
      ngx.log(ngx.WARN, "redis bridge: tls handshake with ", key, " failed: ", herr)
      return finish(502, "tls handshake failed: " .. tostring(herr))
    end
  end

  -- A pooled connection was authenticated and SELECTed with these very commands: skip them and
  -- answer them as Redis did.
  local out = {}
  local skip = 0
  if preamble_count > 0 and (sock:getreusedtimes() or 0) > 0 then
    skip = preamble_count
    for _ = 1, skip do
      out[#out + 1] = "+OK\r\n"
    end
  end
  local payload = sub(body, (skip > 0 and preamble_len or 0) + 1, send_to)
  if #payload > 0 then
    if not budget(sock, deadline) then
      sock:close()
      return failed("timeout")
    end
    local sent, serr = sock:send(payload)
    if not sent then
      sock:close()
      return failed(serr)
    end
  end
  local reusable = true
  for i = skip + 1, expected do
    local first = #out + 1
    local got, rerr = read_reply(sock, out, deadline)
    if not got then
      sock:close()
      return failed(rerr)
    end
    if i <= preamble_count and byte(out[first], 1) ~= PLUS then
      reusable = false
    end
  end
  if quit then
    out[#out + 1] = "+OK\r\n"
  end
  if reusable then
    sock:setkeepalive(60000, tonumber(ngx.var.redis_bridge_pool) or 64)
  else
    sock:close()
  end
  local answer = concat(out)
  ngx.header["Content-Type"] = "application/x-redis-resp"
  ngx.header["Content-Length"] = #answer
  ngx.print(answer)
end

_M.scan_request = scan_request
_M.split_node = split_node

return _M
