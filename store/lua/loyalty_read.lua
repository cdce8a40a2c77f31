-- loyalty_read.lua: everything an order or event call reads before core plans it, in one call.
-- (A function of the library store/counters.py builds: uses _lib.lua.) Reads only. Key names come from the caller (store.keys spells
-- them): this script only appends ids to the prefixes it is given.
--
-- KEYS[1]   the definitions version (<prefix>defs:version)
-- KEYS[2..] order records to look at ('' = none; the first that exists is the order)
-- ARGV[1]   number of order keys (N)
-- ARGV[2]   customer key prefix (<prefix>customer:); ARGV[3] source_id index prefix
--           (<prefix>customer:src:); ARGV[4] metrics key prefix (<prefix>custmetrics:)
-- ARGV[5]   customer id ('' = none); ARGV[6] customer source_id ('' = none); ARGV[7] the id
--           to fall back on when the order names no customer ('' = none)
-- ARGV[8..] per loyalty program, 3 fields: campaign id, holder key prefix
--           (<prefix>{c:<id>}:lc:holder:), card key prefix (<prefix>{c:<id>}:lc:)
--
-- Reply: {version, order JSON or '', customer JSON or '', customer id or '', metrics (flat
--         HGETALL), then per held card: campaign id, code, lifetime points}
-- (a customer looked up by id that does not exist, and no source_id known: customer '' )
local version = redis.call('GET', KEYS[1]) or '0'
local n = tonumber(ARGV[1])
local order = ''
for i = 2, n + 1 do
  if KEYS[i] ~= '' then
    local o = redis.call('GET', KEYS[i])
    if o then order = o break end
  end
end
local cp, sp, mp = ARGV[2], ARGV[3], ARGV[4]
local cid, src = ARGV[5], ARGV[6]
local cust = false
if cid ~= '' then cust = redis.call('GET', cp .. cid) end
if not cust and src ~= '' then
  local id = redis.call('GET', sp .. src)
  if id then
    cid = id
    cust = redis.call('GET', cp .. id)
  end
end
if not cust and cid == '' and ARGV[7] ~= '' then
  cid = ARGV[7]
  cust = redis.call('GET', cp .. cid)
end
if not cust then return {version, order, '', '', {}} end
local out = {version, order, cust, cid, redis.call('HGETALL', mp .. cid)}
for i = 8, #ARGV, 3 do
  local code = redis.call('GET', ARGV[i + 1] .. cid)
  if code then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = code
    out[#out + 1] = redis.call('HGET', ARGV[i + 2] .. code, 'points') or '0'
  end
end
return out
