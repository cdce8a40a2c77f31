-- customer.lua: create a customer known by its source_id, unless one exists (then its id).
-- (A function of the library store/counters.py builds: uses _lib.lua.) The gateway's orders and events upsert their customer this way:
-- concurrent first orders of one source_id make one customer.
--
-- KEYS[1] <prefix>customer:src:<source_id>; KEYS[2] <prefix>customer:<new id>;
-- KEYS[3] <prefix>customers (zset by creation time)
-- ARGV[1] new id; ARGV[2] the customer (JSON); ARGV[3] now (ms)
-- Replies: {'found', id} | {'created', id}
local cur = redis.call('GET', KEYS[1])
if cur then return {'found', cur} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return {'created', ARGV[1]}
