-- check.lua: read live counters for a validation, counting other sessions' reservations.
--
-- KEYS[1..n]  counter keys (full names, prefix included)
-- ARGV[1]     now_ms: current time in ms since epoch (holds with expiry <= now_ms are purged)
-- ARGV[2]     session key whose own holds are NOT counted ('' = count every hold)
--
-- Returns     array of n integers: for each key, its value (0 if absent) plus the amounts held
--             on it by live sessions other than ARGV[2].
-- Writes      only the purge of expired holds.

local now, session = tonumber(ARGV[1]), ARGV[2]
local out = {}
if #KEYS == 0 then return out end
local vals = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  purge_holds(KEYS[i], now)
  out[i] = (tonumber(vals[i]) or 0) + held_by_others(KEYS[i], session)
end
return out
