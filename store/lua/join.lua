-- join.lua: publish a loyalty card to a customer, or find the one they hold (join once).
-- (A function of the library store/counters.py builds: uses _lib.lua.) Which code, which customer and whether a program is join-once is
-- decided by the caller; this only makes the writes atomic and the code unique.
--
-- KEYS[1]   the holder key (<prefix>{c:<campaign>}:lc:holder:<customer id>)
-- KEYS[2]   the code's bucket to store it in (store.codebook.place): field = the code
-- KEYS[3]   the campaign's code list (<prefix>campcodes:<campaign>)
-- KEYS[4]   the campaign's deletion mark (<prefix>campgone:<campaign>)
-- KEYS[5]   the card id index (<prefix>vid:<v_ id>)
-- KEYS[6]   the code's other bucket (the code must not be there either)
-- KEYS[7..] the customer's code sets (<prefix>custcodes:<customer id / source_id>)
-- ARGV[1]   the code; ARGV[2] the card record (packed: store.codebook.pack); ARGV[3] the card id;
-- ARGV[4]   '1' = join once: a customer who holds a card of the program gets it back
--
-- Replies: {'ok', code} published; {'exists', code} the customer's card (join once);
--          {'taken'} the code exists already (the caller tries another); {'gone'} the campaign
--          is being deleted (nothing written)
if ARGV[4] == '1' then
  local cur = redis.call('GET', KEYS[1])
  if cur then return {'exists', cur} end
end
if redis.call('EXISTS', KEYS[4]) == 1 then return {'gone'} end
if redis.call('HEXISTS', KEYS[6], ARGV[1]) == 1
    or redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return {'taken'} end
redis.call('SET', KEYS[1], ARGV[1], 'NX')
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('SET', KEYS[5], ARGV[1])
for i = 7, #KEYS do redis.call('SADD', KEYS[i], ARGV[1]) end
return {'ok', ARGV[1]}
