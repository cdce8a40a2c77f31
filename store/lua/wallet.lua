-- wallet.lua: apply a plan of wallet ops to loyalty cards, atomically and all-or-nothing.
-- (A function of the library store/counters.py builds: uses _lib.lua and _wallet.lua, where key layout, figures and normalisation are.)
--
-- KEYS[1]                idempotency key (<prefix>{c:<id>}:idem:wallet:<op id>); ignored when
--                        ARGV[2] == ''
-- KEYS[2 .. 7C+1]        C cards, 7 keys each, in store.keys.CardKeys order
-- KEYS[7C+2 .. 7C+K+1]   the K distinct counter keys of the limit ops
-- ARGV[1]                now_ms
-- ARGV[2]                request fingerprint for the idempotency key ('' = no idempotency key)
-- ARGV[3]                idempotency answer TTL in seconds (0 = kept)
-- ARGV[4]                C
-- ARGV[5 .. 4+3C]        per card: campaign id, code, transaction id prefix
-- ARGV[5+3C], [6+3C],    N (wallet ops), M (limit ops), W (plain writes)
-- [7+3C]
-- ARGV[8+3C ..]          N wallet ops, one JSON object each (below)
-- then                   M limit ops, 6 fields each as in redeem.lua: key index (1..K), delta,
--                        limit (-1 = none), error, ttl (s, 0 = none), hold (1 = session holds
--                        count against the limit; no session is consumed here)
-- then                   W plain writes, 4 fields each: verb, key position in KEYS (absolute;
--                        those keys follow the counter keys), a, b. Done only when everything
--                        else applies, in order, after it.
-- then                   the field / value texts of the hmset / hmsettx writes, 2 per field
--                        (field, value, field, value, ...), write after write (then the items
--                        of `credits` ops, below). Verbs (a, b):
--                          set (value, -)      setnx (value, -): refuses the whole call when the
--                                              key exists ({'fail', 'write', index, 'exists'})
--                          incr (delta, -): INCRBY, delta signed       del (-, -)
--                          hincr (field, delta)   hset (field, value)   hdel (field, -)
--                          hsetnx (field, value): hset; refuses the whole call when the field
--                                             exists, as setnx does (a code in its bucket)
--                          hfree (field, -): writes nothing; refuses the whole call when the
--                                             field exists (a code in its other bucket)
--                          hsettx (field, value): hset, every `\u0001tx\u0001` in the value
--                                             (JSON's escape of the bytes 01 't' 'x' 01) replaced
--                                             by the first transaction id of wallet op 1 (a
--                                             record that names the debit this call makes)
--                          hmset (i, n): ONE HSET of n fields, whose 2n texts start at the i-th
--                                             (1-based) of the texts after the writes
--                          hmsettx (i, n): hmset, every value replaced as hsettx does (a whole
--                                             record in one HSET)
--                          hmax (field, number): set when larger than the field (or absent)
--                          sadd (member, -)    srem (member, -)    rpush (value, -)
--                          lrem (value, -): its last occurrence      zadd (member, score)
--                          publish (message, -): on the channel named by the key slot
--                          xadd (type, data): an entry {type, data, at = now} on a stream
--                                             trimmed to about its last 1,000 entries
--
-- Wallet ops (c / to: card index 1..C; p: points, a positive integer unless said otherwise;
-- s / r / d: source_id, reason, details (opaque JSON text) written on the op's transactions;
-- every other check of the input was made by store/wallet.py):
--   {o:"credit", c, p, t: POINTS_ACCRUAL|POINTS_ADDITION, x: bucket expiry ms (W_NEVER = none),
--    s, r, d}
--   {o:"credits", c, t, n, p: points in all, xs: [[expiry ms, points], ...] per bucket,
--    i: the ARGV index of the JSON text of its n items [[points, expiry, s, r, d], ...]}
--                a run of n >= 2 credits to one card, written as one stream entry (see
--                _wallet.lua, tx); the items' texts follow the W plain writes' texts, never parsed
--   {o:"pending", c, p, id, a: activation ms (> now), xa: expiry ms (> a; W_NEVER = none),
--    xd: expiry as ms after activation (0 = use xa), s, r, d}     no transaction until activated
--   {o:"debit", c, p, t: POINTS_REDEMPTION|POINTS_REMOVAL, m: "exact"|"clamp", e: error key,
--    s, r, d}    exact: fails when the balance is short; clamp: takes what is there and records
--                the rest as the transaction's shortfall
--   {o:"refund", c, tx: id of a POINTS_REDEMPTION / POINTS_REMOVAL of card c, s, r, d}
--                gives back exactly what that debit took, to the same buckets (same expiries),
--                once; points whose bucket has expired meanwhile come back and expire at once
--                (a POINTS_EXPIRATION right after the POINTS_REFUND, listed in the op's tx)
--   {o:"transfer", c: from, to, p, x: expiry ms of the points on `to`, e: error key, s, r, d,
--    d2: details of the TRANSFER_IN}   an exact debit of c (POINTS_TRANSFER_OUT) and a credit
--                of `to` (POINTS_TRANSFER_IN), each naming the other as related
--   {o:"activate", c, id}   {o:"cancel", c, id}   {o:"adjust", c, id, p: signed delta}
--                on a PENDING record only; adjust never takes it below 0
--
-- Order of work: idempotency; normalise every card (see _wallet.lua); check every wallet op in
-- order against the figures the ops before it would leave, then every limit op (as redeem.lua);
-- only if all pass, apply them in order, count the limits, store the answer.
--
-- Replies
--   {'ok', json}        applied; json =
--        {"cards": [{campaign_id, code, points, balance, expired, subtracted, redeemed, pending,
--                    seq, at, next_expiration_at (0 = none), next_expiration_points}, ...],
--         "ops":   [{o, c, tx: [transaction ids] (credits: first, n instead: the seq of the
--                    first of its n transactions), points (signed, applied), balance, total
--                    (of card c, after the op), buckets: [[expiry, points], ...] taken or
--                    credited, shortfall, pending_id, pending_points, to (a transfer's card
--                    index), to_balance, to_total}, ...],
--         "auto":  [[card index, transaction id, type, points], ...]}   (normalisation's)
--   {'fail', 'wallet', op index (0-based), error, available, requested}
--        a wallet op cannot apply; nothing written apart from normalisation. error is the op's
--        own key for a short exact debit or transfer (available = balance, requested = p), else
--        pending_points_exists, not_found (no such debit / pending record on that card),
--        not_refundable (not a redemption or removal), already_refunded,
--        invalid_pending_points_state (not PENDING), invalid_amount (adjust below 0; available
--        = pending points, requested = delta)
--   {'fail', 'limit', op index (0-based), error, current, held}   a limit op would pass its limit
--   {'fail', 'write', write index (0-based), 'exists', 0, 0}       a setnx key exists
--   {'replay', json}    idempotency key seen with the same fingerprint: the first answer
--   {'conflict'}        idempotency key seen with another fingerprint
-- A refused call ('fail', 'replay', 'conflict') stores nothing under the idempotency key.

local idem = KEYS[1]
local now, fp, idem_ttl, C = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local N, M, W = tonumber(ARGV[5 + 3 * C]), tonumber(ARGV[6 + 3 * C]), tonumber(ARGV[7 + 3 * C])
local obase = 8 + 3 * C
local wbase = obase + N + M * 6
local fbase = wbase + W * 4 - 1  -- + i: the i-th field text of the hmset / hmsettx writes

local stored = idempotent_answer(idem, fp)
if stored then return stored end

local cards = {}
for i = 1, C do
  local b = 4 + (i - 1) * 3
  cards[i] = w_open(1 + (i - 1) * 7, ARGV[b + 1], ARGV[b + 2], ARGV[b + 3])
  w_normalise(cards[i], now)
end

local function refuse(reply)
  for i = 1, C do w_flush(cards[i]) end
  return reply
end

-- Check, on simulated figures: balance per card, pending records' state, refunds made.
local ops, bal, pstate, refunded, found = {}, {}, {}, {}, {}
for i = 1, C do bal[i] = cards[i].f.balance end
for i = 1, N do
  local op = cjson.decode(ARGV[obase + i - 1])
  ops[i] = op
  local o, ci = op.o, op.c
  local c = cards[ci]
  if o == 'credit' or o == 'credits' then
    bal[ci] = bal[ci] + op.p
  elseif o == 'debit' or o == 'transfer' then
    if bal[ci] >= op.p then
      bal[ci] = bal[ci] - op.p
    elseif o == 'debit' and op.m == 'clamp' then
      bal[ci] = 0
    else
      return refuse({'fail', 'wallet', i - 1, op.e, bal[ci], op.p})
    end
    if o == 'transfer' then bal[op.to] = bal[op.to] + op.p end
  elseif o == 'refund' then
    local t = w_find_tx(c, op.tx)
    if not t then return refuse({'fail', 'wallet', i - 1, 'not_found', 0, 0}) end
    if t.type ~= 'POINTS_REDEMPTION' and t.type ~= 'POINTS_REMOVAL' then
      return refuse({'fail', 'wallet', i - 1, 'not_refundable', 0, 0})
    end
    local k = ci .. ' ' .. t.seq
    if refunded[k] or redis.call('HEXISTS', c.rf, t.seq) == 1 then
      return refuse({'fail', 'wallet', i - 1, 'already_refunded', 0, 0})
    end
    refunded[k] = true
    t.takes = cjson.decode(t.buckets)
    for j = 1, #t.takes do
      if t.takes[j][1] > now then bal[ci] = bal[ci] + t.takes[j][2] end
    end
    found[i] = t
  elseif o == 'pending' then
    local k = ci .. ' ' .. op.id
    if pstate[k] or redis.call('HEXISTS', c.ppr, op.id) == 1 then
      return refuse({'fail', 'wallet', i - 1, 'pending_points_exists', 0, 0})
    end
    pstate[k] = {st = 'PENDING', p = op.p}
  else  -- activate / cancel / adjust
    local k = ci .. ' ' .. op.id
    local st = pstate[k]
    if not st then
      local raw = redis.call('HGET', c.ppr, op.id)
      if not raw then return refuse({'fail', 'wallet', i - 1, 'not_found', 0, 0}) end
      local rec = cjson.decode(raw)
      st = {st = rec.st, p = rec.p}
      pstate[k] = st
    end
    if st.st ~= 'PENDING' then
      return refuse({'fail', 'wallet', i - 1, 'invalid_pending_points_state', 0, 0})
    end
    if o == 'activate' then
      st.st = 'ACTIVATED'
      bal[ci] = bal[ci] + st.p
    elseif o == 'cancel' then
      st.st = 'CANCELED'
    else
      if st.p + op.p < 0 then
        return refuse({'fail', 'wallet', i - 1, 'invalid_amount', st.p, op.p})
      end
      st.p = st.p + op.p
    end
  end
end

local koff = 1 + 7 * C
local lops = parse_ops(obase + N, M)
local lfail = check_ops(lops, koff, now, '')
if lfail then
  return refuse({'fail', 'limit', lfail[2], lfail[5], lfail[3], lfail[4]})
end
for i = 0, W - 1 do
  local b = wbase + i * 4
  if (ARGV[b] == 'setnx' and redis.call('EXISTS', KEYS[tonumber(ARGV[b + 1])]) == 1)
      or ((ARGV[b] == 'hsetnx' or ARGV[b] == 'hfree')
          and redis.call('HEXISTS', KEYS[tonumber(ARGV[b + 1])], ARGV[b + 2]) == 1) then
    return refuse({'fail', 'write', i, 'exists', 0, 0})
  end
end

-- Apply.
local results = {}
for i = 1, N do
  local op = ops[i]
  local c = cards[op.c]
  local f = c.f
  local r = {o = op.o, c = op.c, tx = {}, points = 0, buckets = {}, shortfall = 0,
             pending_id = '', pending_points = 0, to_balance = 0, to_total = 0}
  local o = op.o
  if o == 'credit' then
    w_add(c, op.x, op.p)
    f.balance = f.balance + op.p
    f.points = f.points + op.p
    r.buckets = {{op.x, op.p}}
    r.tx[1] = w_tx(c, now, op.t, op.p, {source_id = op.s, reason = op.r, details = op.d,
                                        buckets = w_bjson(r.buckets)})
    r.points = op.p
  elseif o == 'credits' then
    for j = 1, #op.xs do w_add(c, op.xs[j][1], op.xs[j][2]) end
    f.balance = f.balance + op.p
    f.points = f.points + op.p
    r.first, r.n = f.seq + 1, op.n
    w_tx(c, now, op.t, op.p, {n = op.n, items = ARGV[op.i]})
    r.points = op.p
  elseif o == 'debit' then
    local id, taken, takes = w_debit(c, op.t, op.p, now,
                                     {source_id = op.s, reason = op.r, details = op.d})
    r.tx[1] = id
    r.points, r.buckets, r.shortfall = -taken, takes, op.p - taken
  elseif o == 'transfer' then
    local d = cards[op.to]
    local out_id, in_id = w_next_id(c), w_next_id(d)
    local taken, takes = w_take(c, op.p)
    f.balance = f.balance - taken
    f.subtracted = f.subtracted + taken
    w_tx(c, now, 'POINTS_TRANSFER_OUT', -taken, {source_id = op.s, reason = op.r,
         details = op.d, related = in_id, buckets = w_bjson(takes)})
    w_add(d, op.x, taken)
    d.f.balance = d.f.balance + taken
    d.f.points = d.f.points + taken
    w_tx(d, now, 'POINTS_TRANSFER_IN', taken, {source_id = op.s, reason = op.r,
         details = op.d2, related = out_id, buckets = w_bjson({{op.x, taken}})})
    r.tx, r.to = {out_id, in_id}, op.to
    r.points, r.buckets, r.to_balance, r.to_total = -taken, takes, d.f.balance, d.f.points
  elseif o == 'refund' then
    local t = found[i]
    local total, dead = 0, {}
    for j = 1, #t.takes do
      local e, p = t.takes[j][1], t.takes[j][2]
      total = total + p
      if e > now then w_add(c, e, p) else dead[#dead + 1] = {e, p} end
    end
    f.balance = f.balance + total
    if t.type == 'POINTS_REMOVAL' then
      f.points = f.points + total
    else
      f.redeemed = f.redeemed - total
    end
    local id = w_tx(c, now, 'POINTS_REFUND', total, {source_id = op.s, reason = op.r,
                    details = op.d, related = op.tx, buckets = t.buckets})
    redis.call('HSET', c.rf, t.seq, id)
    r.tx[1] = id
    for j = 1, #dead do
      f.balance = f.balance - dead[j][2]
      f.expired = f.expired + dead[j][2]
      r.tx[#r.tx + 1] = w_tx(c, now, 'POINTS_EXPIRATION', -dead[j][2],
                             {buckets = w_bjson({dead[j]})})
    end
    r.points, r.buckets = total, t.takes
  elseif o == 'pending' then
    local rec = {p = op.p, a = op.a, xa = op.xa, xd = op.xd, d = op.d or '', s = op.s or '',
                 r = op.r or '', st = 'PENDING', c = now, u = now, tx = ''}
    redis.call('HSET', c.ppr, op.id, cjson.encode(rec))
    redis.call('ZADD', c.pp, op.a, op.id)
    f.pending = f.pending + op.p
    c.dirty = true
    r.pending_id, r.pending_points = op.id, op.p
  else  -- activate / cancel / adjust: the record is PENDING (checked above)
    local rec = cjson.decode(redis.call('HGET', c.ppr, op.id))
    r.pending_id = op.id
    if o == 'activate' then
      local id, exp = w_activate(c, op.id, rec, now)
      r.tx[1] = id
      r.points, r.pending_points = rec.p, rec.p
      if rec.p > 0 then r.buckets = {{exp, rec.p}} end
    else
      if o == 'cancel' then
        rec.st = 'CANCELED'
        redis.call('ZREM', c.pp, op.id)
        f.pending = f.pending - rec.p
      else
        rec.p = rec.p + op.p
        f.pending = f.pending + op.p
      end
      rec.u = now
      redis.call('HSET', c.ppr, op.id, cjson.encode(rec))
      c.dirty = true
      r.pending_points = rec.p
    end
  end
  r.balance, r.total = f.balance, f.points
  results[i] = r
end

for i = 1, M do
  local op = lops[i]
  local k = KEYS[koff + op.k]
  redis.call('INCRBY', k, op.d)
  if op.ttl > 0 then redis.call('EXPIRE', k, op.ttl, 'NX') end
end

-- An hsettx / hmsettx value: every TX mark replaced by the first transaction id of op 1 (by
-- plain finds: a pattern gsub scans a 2 KB record in ~15 us, a plain find in ~0.1 us)
local TX = '\\u0001tx\\u0001'
local function with_tx(x)
  local s = string.find(x, TX, 1, true)
  if not s then return x end
  local tx = ((results[1] or {}).tx or {})[1] or ''
  local parts, from = {}, 1
  while s do
    parts[#parts + 1] = string.sub(x, from, s - 1)
    parts[#parts + 1] = tx
    from = s + #TX
    s = string.find(x, TX, from, true)
  end
  parts[#parts + 1] = string.sub(x, from)
  return table.concat(parts)
end

for i = 0, W - 1 do
  local b = wbase + i * 4
  local v, k, a, x = ARGV[b], KEYS[tonumber(ARGV[b + 1])], ARGV[b + 2], ARGV[b + 3]
  if v == 'set' or v == 'setnx' then
    redis.call('SET', k, a)
  elseif v == 'incr' then
    redis.call('INCRBY', k, a)
  elseif v == 'del' then
    redis.call('DEL', k)
  elseif v == 'srem' then
    redis.call('SREM', k, a)
  elseif v == 'lrem' then
    redis.call('LREM', k, -1, a)
  elseif v == 'publish' then
    redis.call('PUBLISH', k, a)
  elseif v == 'hincr' then
    redis.call('HINCRBY', k, a, x)
  elseif v == 'hset' or v == 'hsetnx' then
    redis.call('HSET', k, a, x)
  elseif v == 'hdel' then
    redis.call('HDEL', k, a)
  elseif v == 'hsettx' then
    redis.call('HSET', k, a, with_tx(x))
  elseif v == 'hmset' or v == 'hmsettx' then
    local f, fv = fbase + tonumber(a), {}
    for j = 1, 2 * tonumber(x), 2 do
      fv[j] = ARGV[f + j - 1]
      fv[j + 1] = v == 'hmset' and ARGV[f + j] or with_tx(ARGV[f + j])
    end
    redis.call('HSET', k, unpack(fv))
  elseif v == 'hmax' then
    local cur = tonumber(redis.call('HGET', k, a))
    if cur == nil or cur < tonumber(x) then redis.call('HSET', k, a, x) end
  elseif v == 'sadd' then
    redis.call('SADD', k, a)
  elseif v == 'rpush' then
    redis.call('RPUSH', k, a)
  elseif v == 'zadd' then
    redis.call('ZADD', k, x, a)
  elseif v == 'xadd' then
    redis.call('XADD', k, 'MAXLEN', '~', 1000, '*', 'type', a, 'data', x, 'at', istr(now))
  end
end

local figures, auto = {}, {}
for i = 1, C do
  w_flush(cards[i])
  figures[i] = w_figures(cards[i])
  for j = 1, #cards[i].auto do
    local a = cards[i].auto[j]
    auto[#auto + 1] = {i, a[1], a[2], a[3]}
  end
end
local payload = cjson.encode({cards = figures, ops = results, auto = auto})
if fp ~= '' then
  redis.call('HSET', idem, 'fp', fp, 'resp', payload)
  if idem_ttl > 0 then redis.call('EXPIRE', idem, idem_ttl) end
end
return {'ok', payload}
