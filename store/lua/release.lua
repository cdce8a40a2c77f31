-- release.lua: release a validation session's reservations (DELETE .../sessions/{key}).
--
-- KEYS[1]   session index (<prefix>sess:<session key>)
-- ARGV[1]   session key
-- ARGV[2]   now_ms (expired holds on the released keys are purged too)
--
-- Returns   the number of counter keys the session held (0 if none: releasing twice is fine).

local idx, session, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local held = redis.call('SMEMBERS', idx)
for i = 1, #held do
  remove_hold(held[i], session)
  purge_holds(held[i], now)
end
redis.call('DEL', idx)
return #held
