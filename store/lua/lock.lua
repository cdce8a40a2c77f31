-- lock.lua: reserve a validation session's uses / credits / points for a while (session LOCK).
--
-- KEYS[1]         session index (<prefix>sess:<session key>)
-- KEYS[2..K+1]    the distinct counter keys of the plan (full names)
-- ARGV[1]         now_ms
-- ARGV[2]         session key (non-empty)
-- ARGV[3]         ttl_ms: the holds expire at now_ms + ttl_ms
-- ARGV[4]         N, the number of ops
-- ARGV[5..]       N ops, 6 fields each: key index (1..K), delta, limit (-1 = none), error, ttl, hold
--
-- Every op is checked as in redeem.lua (current + live holds of OTHER sessions, for ops with
-- hold = 1, + this plan's deltas on the key <= limit). If one fails, nothing is written (apart
-- from purging expired holds) and the reply is {'fail', op index (0-based), current, held, error}.
-- Else the session's previous holds (if any) are dropped and the summed deltas of its hold = 1
-- ops are held on their keys until now_ms + ttl_ms; the reply is {'ok', expires_at_ms}.

local idx = KEYS[1]
local now, session, ttl_ms, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ops = parse_ops(5, n)
local failed = check_ops(ops, 1, now, session)
if failed then return failed end

release_session(idx, session)

local exp = now + ttl_ms
local order, amount = {}, {}
for i = 1, #ops do
  local op = ops[i]
  if op.hold and op.d > 0 then
    if amount[op.k] == nil then
      amount[op.k] = 0
      order[#order + 1] = op.k
    end
    amount[op.k] = amount[op.k] + op.d
  end
end
local keep_ms = ttl_ms + HOLD_TTL_SLACK_MS
for i = 1, #order do
  local k = KEYS[1 + order[i]]
  local hk, ak = k .. ':holds', k .. ':holdamt'
  redis.call('ZADD', hk, exp, session)
  redis.call('HSET', ak, session, amount[order[i]])
  redis.call('HINCRBY', ak, '', amount[order[i]])
  local pttl = redis.call('PTTL', hk)
  if pttl < keep_ms then
    redis.call('PEXPIRE', hk, keep_ms)
    redis.call('PEXPIRE', ak, keep_ms)
  end
  redis.call('SADD', idx, k)
end
if #order > 0 then redis.call('PEXPIRE', idx, keep_ms) end
return {'ok', exp}
