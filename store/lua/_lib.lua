-- _lib.lua: helpers shared by every script (counters, reservations, idempotent answers).
--
-- Not a script of its own: store/counters.py (function_library) puts this file, _wallet.lua,
-- _pay.lua and every script (each as the body of a function) into ONE Redis function library
-- (FUNCTION LOAD): the helpers are defined once when it loads, KEYS and ARGV are upvalues each
-- function sets when called. No business logic lives here, only the arithmetic of counters and
-- reservations ("holds").
--
-- Holds of a counter key K (full key name, prefix included):
--   K .. ':holds'    sorted set   member = session key, score = expiry (ms since epoch)
--   K .. ':holdamt'  hash         session key -> amount held; field '' = sum of all live amounts
-- A hold is live while its expiry > now_ms (now_ms always comes from ARGV, never from TIME).
-- A session's index (a set of the counter keys it holds) lives at <prefix>sess:<session key>.

local HOLD_TTL_SLACK_MS = 60000  -- keep hold structures a minute past their last expiry

-- Integer to string for replies and JSON without exponent notation.
local function istr(n)
  return string.format('%d', n)
end

-- Drop expired holds of K (expiry <= now) and subtract them from the running total.
local function purge_holds(k, now)
  local hk, ak = k .. ':holds', k .. ':holdamt'
  local gone_total, purged = 0, false
  while true do
    local gone = redis.call('ZRANGEBYSCORE', hk, '-inf', now, 'LIMIT', 0, 256)
    if #gone == 0 then break end
    purged = true
    local amts = redis.call('HMGET', ak, unpack(gone))
    for i = 1, #amts do gone_total = gone_total + (tonumber(amts[i]) or 0) end
    redis.call('HDEL', ak, unpack(gone))
    redis.call('ZREM', hk, unpack(gone))
  end
  if purged then
    if redis.call('ZCARD', hk) == 0 then
      redis.call('DEL', ak)
    elseif gone_total ~= 0 then
      redis.call('HINCRBY', ak, '', -gone_total)
    end
  end
end

-- Live amount held on K by every session except `session` ('' = exclude nobody).
-- Call purge_holds(k, now) first.
local function held_by_others(k, session)
  local ak = k .. ':holdamt'
  if session == '' then
    return tonumber(redis.call('HGET', ak, '')) or 0
  end
  local v = redis.call('HMGET', ak, '', session)
  return (tonumber(v[1]) or 0) - (tonumber(v[2]) or 0)
end

-- Live amount held on K by every session except `session`, expired holds purged first. A key
-- that has no hold structures (no K:holds: the common case, as K:holdamt never outlives it)
-- costs one EXISTS.
local function held_live(k, now, session)
  if redis.call('EXISTS', k .. ':holds') == 0 then return 0 end
  purge_holds(k, now)
  return held_by_others(k, session)
end

-- Remove `session`'s hold on K, if any.
local function remove_hold(k, session)
  local hk, ak = k .. ':holds', k .. ':holdamt'
  local amt = tonumber(redis.call('HGET', ak, session))
  redis.call('ZREM', hk, session)
  if amt ~= nil then
    redis.call('HDEL', ak, session)
    if redis.call('ZCARD', hk) == 0 then
      redis.call('DEL', ak)
    else
      redis.call('HINCRBY', ak, '', -amt)
    end
  end
end

-- Remove every hold of the session indexed at `idx`, then the index. Returns how many keys.
-- The counter keys come from the index, not from KEYS: all of them live under the same prefix
-- (a single Redis server, or one slot per campaign in the cluster plan, see DESIGN.md).
local function release_session(idx, session)
  local held = redis.call('SMEMBERS', idx)
  for i = 1, #held do remove_hold(held[i], session) end
  redis.call('DEL', idx)
  return #held
end

-- The stored answer under an idempotency key `idem`, for a call whose request fingerprint is `fp`
-- ('' = the call has no idempotency key): {'replay', stored answer} when the key was used with the
-- same fingerprint, {'conflict'} with another one, nil when the key is new.
local function idempotent_answer(idem, fp)
  if fp == '' then return nil end
  local seen = redis.call('HMGET', idem, 'fp', 'resp')
  if not seen[1] then return nil end
  if seen[1] == fp then return {'replay', seen[2]} end
  return {'conflict'}
end

-- Parse `n` counter ops from ARGV starting at `base`; 6 fields each:
--   key index (1-based, into the counter part of KEYS), delta, limit (-1 = none), error, ttl, hold
local function parse_ops(base, n)
  local ops = {}
  for i = 0, n - 1 do
    local j = base + i * 6
    ops[i + 1] = {
      k = tonumber(ARGV[j]), d = tonumber(ARGV[j + 1]), lim = tonumber(ARGV[j + 2]),
      err = ARGV[j + 3], ttl = tonumber(ARGV[j + 4]), hold = ARGV[j + 5] == '1',
    }
  end
  return ops
end

-- Whether any of the counter keys `ks` (full names) has hold structures: ONE EXISTS for all of
-- them (the common case is none, and then no key needs held_live's purge and read).
local function any_holds(ks)
  if #ks == 0 then return false end
  local hk = {}
  for i = 1, #ks do hk[i] = ks[i] .. ':holds' end
  return redis.call('EXISTS', unpack(hk)) > 0
end

-- Check every op: current + (live holds of other sessions, if the op counts holds)
-- + (sum of this call's deltas on that key so far) <= limit.
-- Returns nil when all pass, else {'fail', op index (0-based), current, held, error}.
-- `key_off` is the position in KEYS just before the first counter key. Every distinct key is
-- read by one MGET, and one EXISTS tells whether any key that counts holds has some.
local function check_ops(ops, key_off, now, session)
  local cur, held, acc = {}, {}, {}
  local ks, kis, hks = {}, {}, {}
  for i = 1, #ops do
    local ki = ops[i].k
    if acc[ki] == nil then
      acc[ki] = 0
      ks[#ks + 1] = KEYS[key_off + ki]
      kis[#kis + 1] = ki
    end
    if ops[i].hold and held[ki] == nil then
      held[ki] = false
      hks[#hks + 1] = KEYS[key_off + ki]
    end
  end
  if #ks > 0 then
    local vals = redis.call('MGET', unpack(ks))
    for j = 1, #kis do cur[kis[j]] = tonumber(vals[j]) or 0 end
  end
  local holds = any_holds(hks)
  for i = 1, #ops do
    local op = ops[i]
    local ki = op.k
    if op.hold and held[ki] == false then
      if holds then held[ki] = held_live(KEYS[key_off + ki], now, session) else held[ki] = 0 end
    end
    acc[ki] = acc[ki] + op.d
    if op.lim >= 0 then
      local h = 0
      if op.hold then h = held[ki] end
      if cur[ki] + h + acc[ki] > op.lim then
        return {'fail', i - 1, cur[ki], h, op.err}
      end
    end
  end
  return nil
end

-- check_ops for the `n` ops laid out in ARGV from `base` (parse_ops's 6 fields each), read in
-- place: no table per op. The plan's K distinct keys are KEYS[key_off + 1 .. key_off + K]
-- (every one of them used by some op; one MGET reads them all); `holds`: whether a hold set
-- of some key that a hold = 1 op counts exists (the caller asked; when not, no key's holds are
-- read). Same checks, same order and same reply as check_ops.
local function check_args(base, n, key_off, K, holds, now, session)
  if n == 0 then return nil end
  local vals = redis.call('MGET', unpack(KEYS, key_off + 1, key_off + K))
  local acc, held = {}, {}
  for j = base, base + (n - 1) * 6, 6 do
    local ki = tonumber(ARGV[j])
    local a = (acc[ki] or 0) + tonumber(ARGV[j + 1])
    acc[ki] = a
    local h = 0
    if ARGV[j + 5] == '1' then
      h = held[ki]
      if h == nil then
        if holds then h = held_live(KEYS[key_off + ki], now, session) else h = 0 end
        held[ki] = h
      end
    end
    local lim = tonumber(ARGV[j + 2])
    if lim >= 0 then
      local c = tonumber(vals[ki]) or 0
      if c + h + a > lim then return {'fail', (j - base) / 6, c, h, ARGV[j + 3]} end
    end
  end
  return nil
end
