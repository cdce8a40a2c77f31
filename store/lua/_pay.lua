-- _pay.lua: pay with points at checkout: the wallet arithmetic check.lua, lock.lua, redeem.lua
-- and rollback.lua share (how many points, from which card and why is core's decision).
--
-- Not a script of its own: store/counters.py prepends _lib.lua, _wallet.lua, then this file.
-- A card's session reservations use _lib.lua's holds on the card's figures key c.h
-- (<figures>:holds, <figures>:holdamt), indexed in the session's set like counter holds, so
-- release.lua and a redeem consuming the session drop them the same way.

-- Open C cards, normalised at `now`: their 7 keys each follow KEYS[koff] (KEYS[koff + 1] ...);
-- their ARGV fields start at ARGV[aoff], `width` fields per card, the first three being
-- campaign id, code and transaction id prefix.
local function pay_cards(koff, aoff, C, width, now)
  local cards = {}
  for i = 1, C do
    local b = aoff + (i - 1) * width
    local c = w_open(koff + (i - 1) * 7, ARGV[b], ARGV[b + 1], ARGV[b + 2])
    w_normalise(c, now)
    cards[i] = c
  end
  return cards
end

-- Points card `c` can spend now: its balance less the live holds of sessions other than
-- `session` ('' = every session's); and those holds.
local function pay_spendable(c, now, session)
  local held = held_live(c.h, now, session)
  return c.f.balance - held, held
end

-- Take `p` points (the caller checked the balance), soonest-expiring first, as a
-- POINTS_REDEMPTION carrying `details`. Returns the transaction id.
local function pay_debit(c, p, now, details)
  return (w_debit(c, 'POINTS_REDEMPTION', p, now, {details = details}))
end

-- Give back what POINTS_REDEMPTION `txid` of card `c` took, to the same buckets, once, as a
-- POINTS_REFUND carrying `details` (points whose bucket has expired meanwhile come back and
-- expire at once: a POINTS_EXPIRATION right after). Returns the points refunded and the
-- refund's transaction id, or 0, nil when there is nothing to refund (no such redemption on
-- the card, or refunded before).
local function pay_refund(c, txid, now, details)
  local t = w_find_tx(c, txid)
  if not t or t.type ~= 'POINTS_REDEMPTION' then return 0, nil end
  if redis.call('HEXISTS', c.rf, t.seq) == 1 then return 0, nil end
  local f = c.f
  local takes = cjson.decode(t.buckets)
  local total, dead = 0, {}
  for j = 1, #takes do
    local e, p = takes[j][1], takes[j][2]
    total = total + p
    if e > now then w_add(c, e, p) else dead[#dead + 1] = {e, p} end
  end
  f.balance = f.balance + total
  f.redeemed = f.redeemed - total
  local id = w_tx(c, now, 'POINTS_REFUND', total,
                  {details = details, related = txid, buckets = t.buckets})
  redis.call('HSET', c.rf, t.seq, id)
  for j = 1, #dead do
    f.balance = f.balance - dead[j][2]
    f.expired = f.expired + dead[j][2]
    w_tx(c, now, 'POINTS_EXPIRATION', -dead[j][2], {buckets = w_bjson({dead[j]})})
  end
  return total, id
end

-- Hold `amount` on key `k` for `session` until `exp` (ms), indexed in the session set `idx`;
-- the hold structures live `keep_ms` past now at least (lock.lua's reservations).
local function pay_hold(idx, k, session, amount, exp, keep_ms)
  local hk, ak = k .. ':holds', k .. ':holdamt'
  redis.call('ZADD', hk, exp, session)
  redis.call('HSET', ak, session, amount)
  redis.call('HINCRBY', ak, '', amount)
  local pttl = redis.call('PTTL', hk)
  if pttl < keep_ms then
    redis.call('PEXPIRE', hk, keep_ms)
    redis.call('PEXPIRE', ak, keep_ms)
  end
  redis.call('SADD', idx, k)
end

-- `text` with every occurrence of the plain string `token` replaced by `value`. The gateway
-- renders a card's figures after a debit (unknown before the debit) as unique placeholder
-- numbers; redeem.lua puts the real figures in their place in the answer and the records.
local function pay_fill(text, token, value)
  local out, i = {}, 1
  while true do
    local a, b = string.find(text, token, i, true)
    if not a then break end
    out[#out + 1] = string.sub(text, i, a - 1)
    out[#out + 1] = value
    i = b + 1
  end
  if i == 1 then return text end
  out[#out + 1] = string.sub(text, i)
  return table.concat(out)
end
