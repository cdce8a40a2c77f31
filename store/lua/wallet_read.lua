-- wallet_read.lua: read one loyalty card, after normalising it (expired buckets leave, due
-- pending points activate: see _wallet.lua). Uses _lib.lua and _wallet.lua (one function library, store/counters.py).
--
-- KEYS[1..7]  the card's keys, in store.keys.CardKeys order
-- ARGV[1]     now_ms
-- ARGV[2..4]  campaign id, code, transaction id prefix
-- ARGV[5]     what to read, with its own arguments from ARGV[6]:
--   'card'                         -> {json}: the card's figures, as wallet.lua's cards[]
--   'tx', order ('desc' = newest first | 'asc'), after seq (exclusive; 0 = from the start),
--         limit                    -> {more (0|1), entry, ...} (up to limit + 2 entries);
--                                     entry = {stream id,
--                                     {field, value, ...}} as XRANGE gives it; an entry
--                                     may hold a run of credits (n transactions: _wallet.lua),
--                                     so the caller expands entries, drops the transactions
--                                     at or before `after`, and cuts at `limit`
--   'buckets', offset, limit       -> {count of buckets, expiry, points, expiry, points, ...}
--                                     soonest-expiring first
--   'pending', after id ('' = from the first), limit
--                                  -> {has_more (0|1), id, record JSON, id, record JSON, ...}
--                                     PENDING records by activation time; `after` that is no
--                                     longer PENDING resumes after its activation time
--   'pending_one', id              -> {record JSON} (any status), or {} when there is none
-- Writes only what normalisation writes (nothing for a card that was never written).

local now = tonumber(ARGV[1])
local c = w_open(0, ARGV[2], ARGV[3], ARGV[4])
w_normalise(c, now)
w_flush(c)
local what = ARGV[5]

if what == 'card' then
  return {cjson.encode(w_figures(c))}
end

if what == 'tx' then
  local order, after, limit = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
  local e
  if order == 'asc' then
    local from = '-'
    local head = nil
    if after > 0 then
      from = '(' .. istr(after) .. '-0'
      -- the run of credits that holds `after` may hold the transactions just past it too
      local h = redis.call('XREVRANGE', c.tx, istr(after) .. '-0', '-', 'COUNT', 1)
      if h[1] and tonumber(string.match(h[1][1], '^(%d+)')) + w_entry_n(h[1][2]) - 1 > after then
        head = h[1]
      end
    end
    e = redis.call('XRANGE', c.tx, from, '+', 'COUNT', limit + 1)
    if head then table.insert(e, 1, head) end
  else
    local from = '+'
    if after > 0 then from = '(' .. istr(after) .. '-0' end
    e = redis.call('XREVRANGE', c.tx, from, '-', 'COUNT', limit + 1)
  end
  local out = {0}
  if #e > limit then out[1] = 1 end
  for i = 1, #e do out[#out + 1] = e[i] end  -- all of them: the caller cuts at `limit`
  return out
end

if what == 'buckets' then
  local off, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
  local out = {redis.call('ZCARD', c.bk)}
  if limit <= 0 then return out end
  local ms = redis.call('ZRANGE', c.bk, off, off + limit - 1)
  if #ms == 0 then return out end
  local pts = redis.call('HMGET', c.bkp, unpack(ms))
  for i = 1, #ms do
    out[#out + 1] = ms[i]
    out[#out + 1] = tonumber(pts[i]) or 0
  end
  return out
end

if what == 'pending' then
  local after, limit = ARGV[6], tonumber(ARGV[7])
  local start = 0
  if after ~= '' then
    local rank = redis.call('ZRANK', c.pp, after)
    if rank then
      start = rank + 1
    else
      local raw = redis.call('HGET', c.ppr, after)
      if raw then start = redis.call('ZCOUNT', c.pp, '-inf', cjson.decode(raw).a) end
    end
  end
  local ids = redis.call('ZRANGE', c.pp, start, start + limit)
  local out = {0}
  if #ids > limit then out[1] = 1 end
  local n = math.min(#ids, limit)
  if n == 0 then return out end
  local shown = {}
  for i = 1, n do shown[i] = ids[i] end
  local recs = redis.call('HMGET', c.ppr, unpack(shown))
  for i = 1, n do
    out[#out + 1] = shown[i]
    out[#out + 1] = recs[i] or ''
  end
  return out
end

if what == 'pending_one' then
  local raw = redis.call('HGET', c.ppr, ARGV[6])
  if raw then return {raw} end
  return {}
end

return redis.error_reply('wallet_read.lua: unknown read ' .. tostring(what))
