//! Lua scripts run atomically in Redis, mirroring the memory store's logic. Times come from
//! Redis's own clock (`TIME`) so instances on different hosts agree.

/// KEYS: bucket, global sorted set, pause, route. ARGV: global (0/1), global limit, window ms,
/// probe lease ms, unique member, the route's bucket hash as resolved (empty: none), how many
/// reservations are wanted (the queue's head and those behind it). Returns `{code, ms}`: 0 go
/// (ms 1 for a probe), 1 wait ms, 2 pending (poll again), 3 the route maps elsewhere now
/// (stale); on go also the bucket's window generation (epoch), what the reservation left (limit,
/// remaining, ms until the reset, ms until no longer unlimited; each -1 when not known, so an
/// answer that repeats them need not be written back) and how many were granted (at least 1,
/// at most wanted, at most 16; a probe is always alone, and so is a reservation while the
/// window's end is unknown or under 250 ms away). A window whose first answer never came back
/// (the instance that sent it died) lets one request out after the probe lease.
pub(crate) const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if (redis.call('GET', KEYS[4]) or '') ~= ARGV[6] then return {3, 0, 0} end
local global = ARGV[1] == '1'
if global then
  local pause = redis.call('PTTL', KEYS[3])
  if pause > 0 then return {1, pause, 0} end
end
local b = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset', 'probe', 'unlimited', 'epoch', 'opened')
local limit = tonumber(b[1])
local remaining = tonumber(b[2]) or 0
local reset = tonumber(b[3]) or 0
local probe = tonumber(b[4]) or 0
local unlimited = tonumber(b[5]) or 0
local epoch = tonumber(b[6]) or 0
local opened = tonumber(b[7]) or 0
local want = math.min(16, math.max(1, tonumber(ARGV[7]) or 1))
local n = 1
local mode
if unlimited > now then
  mode = 'free'
  n = want
elseif limit ~= nil then
  if reset > 0 and reset <= now then remaining = limit; reset = 0; epoch = epoch + 1; opened = now end
  if remaining == 0 and reset == 0 and opened > 0 and now - opened > tonumber(ARGV[4]) then
    -- The window's first answer never came back (its instance died): one request learns it.
    remaining = 1; opened = now
  end
  if remaining > 0 then
    mode = 'take'
    n = math.min(want, remaining)
    -- No batch while the window's end is unknown or near: a reservation kept for a moment
    -- must not be sent into the next window.
    if reset == 0 or reset - now < 250 then n = 1 end
  elseif reset > 0 then
    return {1, math.max(1, reset - now), 0}
  else
    return {2, 20, 0}
  end
elseif probe > now then
  return {2, probe - now, 0}
else
  mode = 'probe'
end
if global then
  local window = tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  local room = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[2])
  if room <= 0 then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {1, math.max(1, tonumber(first[2]) + window - now), 0}
  end
  n = math.min(n, room)
  local entries = {}
  for i = 1, n do
    entries[2 * i - 1] = now
    entries[2 * i] = ARGV[5] .. ':' .. i
  end
  redis.call('ZADD', KEYS[2], unpack(entries))
  redis.call('PEXPIRE', KEYS[2], window * 2)
end
if mode == 'take' then
  redis.call('HSET', KEYS[1], 'remaining', remaining - n, 'reset', reset, 'epoch', epoch, 'opened', opened)
  redis.call('PEXPIRE', KEYS[1], 3600000)
  local reset_in = -1
  if reset > 0 then reset_in = reset - now end
  return {0, 0, epoch, limit, remaining - n, reset_in, -1, n}
elseif mode == 'probe' then
  redis.call('HSET', KEYS[1], 'probe', now + tonumber(ARGV[4]))
  redis.call('PEXPIRE', KEYS[1], 3600000)
  return {0, 1, epoch, -1, -1, -1, -1, 1}
end
return {0, 0, epoch, -1, -1, -1, unlimited - now, n}
";

/// KEYS: bucket. ARGV: outcome (`headers`, `unlimited`, `limited`, `release`), was probe (0/1),
/// limit, remaining, ms (reset after or retry after), unlimited ms, epoch of the reservation
/// (-1 when reserved on another bucket).
pub(crate) const COMPLETE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kind = ARGV[1]
if ARGV[2] == '1' then redis.call('HDEL', KEYS[1], 'probe') end
local b = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset', 'epoch')
local limit = tonumber(b[1])
local remaining = tonumber(b[2]) or 0
local reset = tonumber(b[3]) or 0
local epoch = tonumber(b[4]) or 0
local sent_in = tonumber(ARGV[7])
local ms = tonumber(ARGV[5])
if kind == 'headers' then
  local new_limit = math.max(1, tonumber(ARGV[3]))
  local new_remaining = tonumber(ARGV[4])
  local reset_h = now + ms
  if limit == nil then
    remaining = new_remaining
    reset = reset_h
  else
    if reset > 0 and reset <= now then remaining = limit; reset = 0; epoch = epoch + 1 end
    if sent_in == epoch then
      remaining = math.min(remaining, new_remaining)
      reset = math.max(reset, reset_h)
    elseif sent_in < 0 then
      remaining = math.min(remaining, new_remaining)
    end
  end
  redis.call('HSET', KEYS[1], 'limit', new_limit, 'remaining', remaining, 'reset', reset, 'epoch', epoch)
  redis.call('HDEL', KEYS[1], 'probe', 'unlimited')
elseif kind == 'unlimited' then
  redis.call('HSET', KEYS[1], 'unlimited', now + tonumber(ARGV[6]))
elseif kind == 'limited' then
  reset = math.max(reset, now + ms)
  redis.call('HSET', KEYS[1], 'limit', limit or 1, 'remaining', 0, 'reset', reset)
  redis.call('HDEL', KEYS[1], 'probe')
elseif kind == 'release' then
  if ARGV[2] ~= '1' and limit ~= nil and reset == 0 then
    redis.call('HSET', KEYS[1], 'reset', now + 1000)
  end
  if limit == nil and not redis.call('HGET', KEYS[1], 'unlimited') then
    -- An unknown bucket whose probe came back holds nothing worth keeping.
    redis.call('DEL', KEYS[1])
    return 0
  end
end
redis.call('PEXPIRE', KEYS[1], 3600000)
return 0
";

/// KEYS: pause. ARGV: ms. Extends the pause to at least `ms` from now.
pub(crate) const PAUSE: &str = r"
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
";
