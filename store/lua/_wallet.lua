-- _wallet.lua: loyalty card wallets: points held in buckets by expiry, pending points, and the
-- card's transaction stream. Arithmetic only: which points to credit or take, from whom and why
-- is decided by the caller (core); nothing here knows earning rules, tiers or rewards.
--
-- Not a script of its own: store/wallet.py prepends _lib.lua, then this file, to wallet.lua and
-- wallet_read.lua (redeem.lua / rollback.lua can include it the same way to debit and refund
-- cards in their own atomic call). Time is always the caller's now_ms, never TIME.
--
-- A card is 7 keys, in the order of store.keys.CardKeys (w_open takes them from KEYS):
--   h    hash    figures: points, balance, expired, subtracted, redeemed, pending, seq, at
--   bk   zset    point buckets; member = score = expiry in ms (istr), W_NEVER for points that
--                never expire. A card has one bucket per expiry instant: credits with the same
--                expiry share it, and a refund finds "its" bucket again even after it emptied.
--   bkp  hash    bucket -> points left (an emptied bucket is removed from bk and bkp)
--   pp   zset    pending-points id -> activation ms, while the record is PENDING
--   ppr  hash    pending-points id -> JSON record (kept after activation / cancellation):
--                {p: points, a: activation ms, xa: expiry ms (W_NEVER = none), xd: expiry as ms
--                 after activation (0 = use xa), d: details JSON, s: source_id, r: reason,
--                 st: PENDING|ACTIVATED|CANCELED, c: created ms, u: updated ms,
--                 tx: activation transaction id ('' until activated)}
--   tx   stream  one entry per transaction, entry id '<seq>-0' (so XRANGE finds a transaction
--                by its seq); always the same fields in the same order (listpack-friendly):
--                id type points balance total at source_id reason related details buckets
--                shortfall pending
--                A run of credits of one call (an order's accruals, one per earning rule) is
--                ONE entry holding n transactions, entry id '<seq of the first>-0', the same
--                fields (points, balance, total: of the whole run, after it; details, buckets,
--                source_id, reason empty) and two more: n, and items = JSON
--                [[points, expiry ms, source_id, reason, details], ...]; the k-th item is
--                transaction seq+k-1 (ids and running balances are derived on read, by
--                store/wallet.py). One XADD instead of n: measured on 100 credits to 10 cards
--                per call, 472 instead of 1,803 us of Redis per call; memory about the same
--                (261 instead of 275 bytes per transaction: the details dominate).
--                  id        <card's transaction id prefix><seq> (the prefix comes from the
--                            caller, derived from campaign id and code)
--                  points    signed points of this transaction; balance / total: the card's
--                            balance and lifetime points after it
--                  buckets   JSON [[expiry ms, points], ...]: the buckets this transaction took
--                            from (debits, transfers out, expirations) or credited
--                  shortfall points a clamped debit could not take (else 0)
--                  pending   the pending-points id an activation came from
--   rf   hash    seq of a refunded debit -> the refund's transaction id
--
-- Figures, per transaction type (so balance = points - expired - subtracted - redeemed, always,
-- and balance = the sum of bkp):
--   POINTS_ACCRUAL, POINTS_ADDITION      balance +n  points +n
--   PENDING_POINTS_ACTIVATION            balance +n  points +n  pending -n
--   POINTS_TRANSFER_IN                   balance +n  points +n
--   POINTS_REMOVAL                       balance -n  points -n
--   POINTS_REDEMPTION                    balance -n  redeemed +n
--   POINTS_TRANSFER_OUT                  balance -n  subtracted +n
--   POINTS_EXPIRATION                    balance -n  expired +n
--   POINTS_REFUND                        balance +n  and the debit's own figure back
--                                        (redeemed -n for a redemption, points +n for a removal)
--   pending points added / adjusted / canceled: pending +-n, no transaction.
--
-- Normalisation (w_normalise, at every call that touches a card): every bucket whose expiry <=
-- now and every pending record whose activation <= now is processed, in time order: an expired
-- bucket leaves the balance as ONE POINTS_EXPIRATION transaction PER BUCKET; a due pending
-- record becomes a bucket (expiry xa, or activation + xd) and a PENDING_POINTS_ACTIVATION
-- transaction. These transactions are dated at their event's time (but never before the card's
-- last transaction), so the running balance reads as if a clock job had run on time.

local W_NEVER = 9999999999999  -- "never expires" (2286-11-20): below cjson's 14 digits
local W_FIGS = {'points', 'balance', 'expired', 'subtracted', 'redeemed', 'pending', 'seq', 'at'}

-- Open the card whose 7 keys are `k` (a list, in CardKeys order); read its figures. `prefix`
-- starts its transaction ids. Nothing is written until w_flush (and only if something changed).
-- (rollback.lua opens the cards a redemption record names this way.)
local function w_open_keys(k, campaign, code, prefix)
  local c = {
    h = k[1], bk = k[2], bkp = k[3], pp = k[4], ppr = k[5], tx = k[6], rf = k[7],
    campaign = campaign, code = code, prefix = prefix, dirty = false, auto = {},
  }
  local v = redis.call('HMGET', c.h, unpack(W_FIGS))
  local f = {}
  for i = 1, #W_FIGS do f[W_FIGS[i]] = tonumber(v[i]) or 0 end
  c.f = f
  return c
end

-- Open the card whose 7 keys follow KEYS[off] (see w_open_keys).
local function w_open(off, campaign, code, prefix)
  return w_open_keys({KEYS[off + 1], KEYS[off + 2], KEYS[off + 3], KEYS[off + 4], KEYS[off + 5],
                      KEYS[off + 6], KEYS[off + 7]}, campaign, code, prefix)
end

-- Write the figures back if they changed.
local function w_flush(c)
  if not c.dirty then return end
  local args = {}
  for i = 1, #W_FIGS do
    args[#args + 1] = W_FIGS[i]
    args[#args + 1] = istr(c.f[W_FIGS[i]])
  end
  redis.call('HSET', c.h, unpack(args))
  c.dirty = false
end

-- The id the card's next transaction will get.
local function w_next_id(c)
  return c.prefix .. istr(c.f.seq + 1)
end

-- [[expiry, points], ...] as JSON, integers written exactly.
local function w_bjson(list)
  local parts = {}
  for i = 1, #list do
    parts[i] = '[' .. istr(list[i][1]) .. ',' .. istr(list[i][2]) .. ']'
  end
  return '[' .. table.concat(parts, ',') .. ']'
end

-- Append a transaction dated `at`; update the figures FIRST (balance and total are read here).
-- `o` holds the optional fields: source_id, reason, related, details, buckets, shortfall,
-- pending; or, for a run of credits (see tx above: `pts` the run's points, figures already
-- updated for all of it), n and items. Returns the (first) transaction's id.
local function w_tx(c, at, typ, pts, o)
  local f = c.f
  local first = f.seq + 1
  f.seq = f.seq + (o.n or 1)
  if at > f.at then f.at = at end
  c.dirty = true
  local id = c.prefix .. istr(first)
  local fields = {
    'id', id, 'type', typ, 'points', istr(pts), 'balance', istr(f.balance),
    'total', istr(f.points), 'at', istr(at), 'source_id', o.source_id or '',
    'reason', o.reason or '', 'related', o.related or '', 'details', o.details or '',
    'buckets', o.buckets or '[]', 'shortfall', istr(o.shortfall or 0), 'pending', o.pending or '',
  }
  if o.items then
    local k = #fields
    fields[k + 1], fields[k + 2], fields[k + 3], fields[k + 4] = 'n', istr(o.n), 'items', o.items
  end
  redis.call('XADD', c.tx, istr(first) .. '-0', unpack(fields))
  return id
end

-- The number of transactions a stream entry's flat field list holds (1, or its `n`).
local function w_entry_n(fl)
  for i = #fl - 3, #fl, 2 do
    if fl[i] == 'n' then return tonumber(fl[i + 1]) end
  end
  return 1
end

-- An automatic (normalisation) transaction's date: its event, but not before the last one.
local function w_at(c, t)
  if t < c.f.at then return c.f.at end
  return t
end

-- Put `pts` points into the bucket expiring at `exp` (figures are the caller's job).
local function w_add(c, exp, pts)
  if pts <= 0 then return end
  local m = istr(exp)
  redis.call('HINCRBY', c.bkp, m, pts)
  redis.call('ZADD', c.bk, exp, m)
end

-- Take up to `want` points, soonest-expiring buckets first (figures are the caller's job).
-- Returns the points taken and {{expiry, points}, ...} per bucket touched, in that order.
local function w_take(c, want)
  local takes, taken = {}, 0
  while taken < want do
    local head = redis.call('ZRANGE', c.bk, 0, 15)
    if #head == 0 then break end
    local amts = redis.call('HMGET', c.bkp, unpack(head))
    for i = 1, #head do
      if taken >= want then break end
      local have = tonumber(amts[i]) or 0
      local t = math.min(have, want - taken)
      if t >= have then
        redis.call('HDEL', c.bkp, head[i])
        redis.call('ZREM', c.bk, head[i])
      else
        redis.call('HINCRBY', c.bkp, head[i], -t)
      end
      if t > 0 then
        takes[#takes + 1] = {tonumber(head[i]), t}
        taken = taken + t
      end
    end
  end
  return taken, takes
end

-- Take up to `p` points, soonest-expiring first, as a transaction of type `typ` dated `now`:
-- a POINTS_REMOVAL lowers the lifetime points too, anything else counts as redeemed. `o` holds
-- the transaction's source_id, reason, details (buckets and shortfall are set here). Returns
-- the transaction's id, the points taken and {{expiry, points}, ...} per bucket.
local function w_debit(c, typ, p, now, o)
  local taken, takes = w_take(c, p)
  local f = c.f
  f.balance = f.balance - taken
  if typ == 'POINTS_REMOVAL' then
    f.points = f.points - taken
  else
    f.redeemed = f.redeemed + taken
  end
  o.buckets, o.shortfall = w_bjson(takes), p - taken
  return w_tx(c, now, typ, -taken, o), taken, takes
end

-- Drop the bucket `m` (expiry `exp`) and write its points as a POINTS_EXPIRATION at `at`.
local function w_expire(c, m, exp, at)
  local pts = tonumber(redis.call('HGET', c.bkp, m)) or 0
  redis.call('HDEL', c.bkp, m)
  redis.call('ZREM', c.bk, m)
  if pts <= 0 then return nil end
  c.f.balance = c.f.balance - pts
  c.f.expired = c.f.expired + pts
  local id = w_tx(c, at, 'POINTS_EXPIRATION', -pts, {buckets = w_bjson({{exp, pts}})})
  c.auto[#c.auto + 1] = {id, 'POINTS_EXPIRATION', -pts}
  return id
end

-- Activate pending record `rec` (decoded, PENDING) of id `pid` at `at`: a bucket, a
-- PENDING_POINTS_ACTIVATION transaction, the record marked ACTIVATED. Returns tx id, expiry.
local function w_activate(c, pid, rec, at)
  local f, p = c.f, rec.p
  local exp = rec.xa
  if rec.xd > 0 then exp = math.min(at + rec.xd, W_NEVER) end
  w_add(c, exp, p)
  f.balance = f.balance + p
  f.points = f.points + p
  f.pending = f.pending - p
  local buckets = '[]'
  if p > 0 then buckets = w_bjson({{exp, p}}) end
  local id = w_tx(c, at, 'PENDING_POINTS_ACTIVATION', p,
    {source_id = rec.s, reason = rec.r, details = rec.d, buckets = buckets, pending = pid})
  rec.st, rec.u, rec.tx = 'ACTIVATED', at, id
  redis.call('HSET', c.ppr, pid, cjson.encode(rec))
  redis.call('ZREM', c.pp, pid)
  return id, exp
end

-- Expire due buckets and activate due pending points, oldest event first (expiry first on a
-- tie), until nothing is due at `now`. Each transaction written is also listed in c.auto.
local function w_normalise(c, now)
  while true do
    local b = redis.call('ZRANGE', c.bk, 0, 0, 'WITHSCORES')
    local bt
    if b[1] then
      bt = tonumber(b[2])
      if bt > now then bt = nil end
    end
    local p = redis.call('ZRANGE', c.pp, 0, 0, 'WITHSCORES')
    local pt
    if p[1] then
      pt = tonumber(p[2])
      if pt > now then pt = nil end
    end
    if bt == nil and pt == nil then return end
    if bt ~= nil and (pt == nil or bt <= pt) then
      w_expire(c, b[1], bt, w_at(c, bt))
    else
      local raw = redis.call('HGET', c.ppr, p[1])
      local rec = raw and cjson.decode(raw)
      if rec and rec.st == 'PENDING' then
        local id = w_activate(c, p[1], rec, w_at(c, pt))
        c.auto[#c.auto + 1] = {id, 'PENDING_POINTS_ACTIVATION', rec.p}
      else
        redis.call('ZREM', c.pp, p[1])  -- no PENDING record behind it: nothing to activate
      end
    end
  end
end

-- The transaction `id` of this card as a field -> value table (plus seq), or nil.
-- A transaction inside a run of credits comes back as its run's entry (type and all).
local function w_find_tx(c, id)
  local s = string.match(id, '_(%d+)$')
  if not s then return nil end
  local e = redis.call('XREVRANGE', c.tx, s .. '-0', '-', 'COUNT', 1)
  if #e == 0 then return nil end
  local fl, t = e[1][2], {}
  local first = tonumber(string.match(e[1][1], '^(%d+)'))
  if first + w_entry_n(fl) - 1 < tonumber(s) then return nil end
  for i = 1, #fl, 2 do t[fl[i]] = fl[i + 1] end
  if t.id ~= c.prefix .. istr(first) or c.prefix .. s ~= id then return nil end
  t.seq = s
  return t
end

-- The card's figures after normalisation, with its next expiration, as a table for cjson.
local function w_figures(c)
  local f = c.f
  local out = {
    campaign_id = c.campaign, code = c.code, points = f.points, balance = f.balance,
    expired = f.expired, subtracted = f.subtracted, redeemed = f.redeemed, pending = f.pending,
    seq = f.seq, at = f.at, next_expiration_at = 0, next_expiration_points = 0,
  }
  local b = redis.call('ZRANGE', c.bk, 0, 0, 'WITHSCORES')
  if b[1] and tonumber(b[2]) < W_NEVER then
    out.next_expiration_at = tonumber(b[2])
    out.next_expiration_points = tonumber(redis.call('HGET', c.bkp, b[1])) or 0
  end
  return out
end
