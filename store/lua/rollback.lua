-- rollback.lua: reverse exactly the increments recorded with a redemption, once, and refund
-- the loyalty points it spent. (A function of the library store/counters.py builds: uses _lib.lua, _wallet.lua, _pay.lua.)
--
-- KEYS[1]   ledger stream (<prefix>ledger)
-- KEYS[2]   idempotency key (<prefix>idem:rollback:<key>); ignored when ARGV[4] == ''
-- KEYS[3]   the redemption record (<prefix>rd:<id>)
-- ARGV[1]   rollback id (e.g. rr_...)
-- ARGV[2]   now_ms
-- ARGV[3]   reason ('' = none)
-- ARGV[4]   request fingerprint for the idempotency key ('' = no idempotency key)
-- ARGV[5]   idempotency answer TTL in seconds
-- ARGV[6]   ledger MAXLEN (approximate trimming; 0 = never trim)
-- ARGV[7]   '1' = stacked: also roll back the record's children; '0' = single: a record with
--           children is refused (invalid_redemption)
-- ARGV[8]   record key prefix (<prefix>rd:), to find children by id
-- ARGV[9]   extra ledger payload (JSON string, '' = none)
--
-- Replies
--   {'ok', payload}                    rolled back (without an idempotency key, {'ok', the head
--                                      and its newline, then the pieces that follow it, one
--                                      reply element each}); payload is a JSON head, a newline, then
--        for each redemption its data (the record's JSON) and its ops (the record's JSON
--        [[key, recorded delta], ...]) as stored, one after the other with no separator (the
--        head gives the length in bytes of each). The head:
--        {"rollback_id", "at" (ms, string), "reason",
--         "redemptions": [{"id", "n" (the length of its data), "m" (the length of its ops),
--                          "a": [delta actually reversed, ...] (one per op, as text; absent
--                               when every op was reversed in full),
--                          "wallet": [{campaign_id, code, debit (its transaction id),
--                                      points (refunded; 0 when refunded before), tx (the
--                                      POINTS_REFUND's id, '' when none), balance, total
--                                      (the card's figures after)}, ...]}, ...]}
--        (the record itself first, then each child not rolled back before). The data and ops
--        are not put into the JSON (escaped, rebuilt): they are passed through as they are.
--        (Until 2026-12, the payload was one JSON document, each redemption's "data" a string
--        in it and "ops" [[key, recorded delta, delta actually reversed], ...]: an answer
--        stored under an idempotency key then is still replayed as it was.)
--   {'replay', payload}                idempotency key seen with the same fingerprint: the
--                                      payload of that first rollback, nothing changed
--   {'conflict'}                       idempotency key seen with another fingerprint
--   {'not_found'}                      no such record
--   {'already_rolled_back', rollback id}   the record was rolled back before: nothing changed
--   {'invalid_redemption'}             single rollback of a record that has children
--   {'refused', error, subject}        an undo step's check failed (see below): nothing changed
--
-- Reversal never creates a key: a counter that no longer EXISTS (an expired window) is skipped,
-- and a counter is never taken below zero. Children (read from the record, not from KEYS; they
-- live under the same prefix) already rolled back on their own are skipped. Records get
-- status = ROLLED_BACK, rollback_id, rolled_back_at, rollback_reason.
-- Points: each debit a record names in its 'wallet' field (written by redeem.lua) is refunded
-- as in wallet.lua's "refund" (the same buckets, once; see _pay.lua) as a POINTS_REFUND whose
-- details are the debit's plus rollback{id}. The cards' keys come from the record (same
-- prefix, the program's slot). The ledger entry gets a 'refunds' field
-- [[campaign, code, points, refund transaction id], ...] when points came back.
-- Undo steps: a record's 'undo' field (JSON list, written with it; what to undo is decided by
-- store/loyalty.py, e.g. what a reward issued) holds steps of these verbs, ALL checked for
-- every target before anything changes, then applied after the record's refunds:
--   {zero = key, e = error, s = subject}   check: the counter at key is absent or 0, else
--                                  {'refused', e, s} (s: what to name in the message)
--   {take = {c, v, x, k, p, d}, e, s}   check: card v (campaign c, tx prefix x, its 7
--                                  keys k) can spend p points now (holds of sessions left
--                                  alone), else refused; apply: a POINTS_REMOVAL of p points
--                                  with details d + rollback{id}
--   {set = {key, value}}, {del = key}, {hdel = {key, field}}, {srem = {key, member}},
--   {lrem = {key, member}} (the last occurrence),
--   {publish = {channel, message}}     apply only
-- Each redemption of the payload then also has "taken": [{campaign_id, code, points, tx,
-- balance, total}, ...] for its take steps.

local ledger, idem, rec = KEYS[1], KEYS[2], KEYS[3]
local rid, now, reason, fp = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local idem_ttl, maxlen, stacked, rd_prefix, extra =
  tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8], ARGV[9]

local stored = idempotent_answer(idem, fp)
if stored then return stored end

-- each target record read once, every field the rollback needs
local FIELDS = {'undo', 'id', 'data', 'ops', 'wallet'}
local function row(v, at)
  return {undo = v[at], id = v[at + 1], data = v[at + 2], ops = v[at + 3], wallet = v[at + 4]}
end
local head = redis.call('HMGET', rec, 'status', 'rollback_id', 'children', unpack(FIELDS))
if not head[1] then return {'not_found'} end
if head[1] == 'ROLLED_BACK' then return {'already_rolled_back', head[2] or ''} end

local children = {}
if head[3] and head[3] ~= '' and head[3] ~= '[]' then children = cjson.decode(head[3]) end
if #children > 0 and not stacked then return {'invalid_redemption'} end

local targets, rows = {rec}, {row(head, 4)}
for i = 1, #children do
  local ck = rd_prefix .. children[i]
  local c = redis.call('HMGET', ck, 'status', unpack(FIELDS))
  if c[1] and c[1] ~= 'ROLLED_BACK' then
    targets[#targets + 1] = ck
    rows[#rows + 1] = row(c, 2)
  end
end

-- cards touched, by their first key (and in order), opened and normalised once
local cards = {}
local function card(w)
  local c = cards[w.k[1]]
  if c == nil then
    c = w_open_keys(w.k, w.c, w.v, w.x)
    w_normalise(c, now)
    cards[w.k[1]] = c
    cards[#cards + 1] = c
  end
  return c
end

-- a debit's details with rollback{id} added ('' stays '')
local function rolled_details(d)
  if not d or d == '' then return '' end
  local doc = cjson.decode(d)
  doc.rollback = {id = rid}
  return cjson.encode(doc)
end

-- every target's undo steps checked before anything changes
local undos, need = {}, {}
for t = 1, #targets do
  local u = rows[t].undo
  local steps = {}
  if u and u ~= '' then steps = cjson.decode(u) end
  undos[t] = steps
  for i = 1, #steps do
    local st = steps[i]
    local bad = nil
    if st.zero then
      if (tonumber(redis.call('GET', st.zero)) or 0) ~= 0 then bad = st.zero end
    elseif st.take then
      local w = st.take
      local k = w.k[1]
      need[k] = (need[k] or 0) + w.p
      if pay_spendable(card(w), now, '') < need[k] then bad = w.v end
    end
    if bad then
      for j = 1, #cards do w_flush(cards[j]) end
      return {'refused', st.e or 'refused', st.s or bad}
    end
  end
end

local out, ids, refunds, pieces = {}, {}, {}, {}
-- per target: its ops (decoded), the text they were stored as, and what was actually reversed
-- of each (`partial` when some op was not reversed in full)
local t_ops, t_raw, t_applied, partial = {}, {}, {}, false
for t = 1, #targets do
  local rw = rows[t]
  local raw = rw.ops
  if not raw or raw == '' then raw = '[]' end
  local ops = {}
  if raw ~= '[]' then ops = cjson.decode(raw) end
  -- every counter read by one MGET; `left` follows what this loop takes off (a key may repeat)
  local applied, left = {}, {}
  if #ops > 0 then
    local ks = {}
    for i = 1, #ops do ks[i] = ops[i][1] end
    local vals = redis.call('MGET', unpack(ks))
    for i = 1, #ops do
      if left[ks[i]] == nil then left[ks[i]] = vals[i] and tonumber(vals[i]) or false end
    end
  end
  local full = true
  for i = 1, #ops do
    local k, d = ops[i][1], tonumber(ops[i][2])
    local a = 0
    local cur = left[k]
    if cur then
      a = math.min(d, cur)
      if a > 0 then
        redis.call('DECRBY', k, a)
        left[k] = cur - a
      else
        a = 0
      end
    end
    applied[i] = a
    if a ~= d then full = false end
  end
  if not full then partial = true end
  t_ops[t], t_raw[t], t_applied[t] = ops, raw, applied
  local r = {rw.id, rw.data, raw, rw.wallet}
  redis.call('HSET', targets[t], 'status', 'ROLLED_BACK', 'rollback_id', rid,
    'rolled_back_at', istr(now), 'rollback_reason', reason)
  local paid = {}
  if r[4] and r[4] ~= '' then paid = cjson.decode(r[4]) end
  local back = {}
  for i = 1, #paid do
    local w = paid[i]
    local c = card(w)
    local pts, tx = pay_refund(c, w.t, now, rolled_details(w.d))
    back[i] = {campaign_id = c.campaign, code = c.code, debit = w.t, points = pts, tx = tx or '',
               balance = c.f.balance, total = c.f.points}
    if tx then refunds[#refunds + 1] = {c.campaign, c.code, pts, tx} end
  end
  local taken = {}
  for i = 1, #undos[t] do
    local st = undos[t][i]
    if st.take then
      local w = st.take
      local c = card(w)
      local tx, pts = w_debit(c, 'POINTS_REMOVAL', w.p, now,
                              {source_id = r[1], reason = 'rollback', details = rolled_details(w.d)})
      taken[#taken + 1] = {campaign_id = c.campaign, code = c.code, points = pts, tx = tx,
                           balance = c.f.balance, total = c.f.points}
    elseif st.set then
      redis.call('SET', st.set[1], st.set[2])
    elseif st.del then
      redis.call('DEL', st.del)
    elseif st.hdel then
      redis.call('HDEL', st.hdel[1], st.hdel[2])
    elseif st.srem then
      redis.call('SREM', st.srem[1], st.srem[2])
    elseif st.lrem then
      redis.call('LREM', st.lrem[1], -1, st.lrem[2])
    elseif st.publish then
      redis.call('PUBLISH', st.publish[1], st.publish[2])
    end
  end
  local data = r[2] or ''
  local o = {id = r[1], n = #data, m = #raw, wallet = back}
  if not full then
    local a = {}
    for i = 1, #applied do a[i] = istr(applied[i]) end
    o.a = a
  end
  if #taken > 0 then o.taken = taken end
  out[#out + 1] = o
  ids[#ids + 1] = r[1]
  pieces[#pieces + 1] = data
  pieces[#pieces + 1] = raw
end
for i = 1, #cards do w_flush(cards[i]) end

-- the entry's ops: [[key, reversed], ...] of every target; one target reversed in full, the
-- text its record keeps (the same pairs)
local fields = {'type', 'rollback', 'at', istr(now), 'rollback_id', rid,
                'redemptions', cjson.encode(ids), 'ops', '[]', 'reason', reason}
if #targets == 1 and not partial then
  fields[10] = t_raw[1]
else
  local reversed = {}
  for t = 1, #targets do
    local ops, applied = t_ops[t], t_applied[t]
    for i = 1, #ops do reversed[#reversed + 1] = {ops[i][1], istr(applied[i])} end
  end
  if #reversed > 0 then fields[10] = cjson.encode(reversed) end
end
if #refunds > 0 then
  fields[#fields + 1] = 'refunds'
  fields[#fields + 1] = cjson.encode(refunds)
end
if extra ~= '' then
  fields[#fields + 1] = 'data'
  fields[#fields + 1] = extra
end
if maxlen > 0 then
  redis.call('XADD', ledger, 'MAXLEN', '~', maxlen, '*', unpack(fields))
else
  redis.call('XADD', ledger, '*', unpack(fields))
end

local head = cjson.encode({rollback_id = rid, at = istr(now), reason = reason, redemptions = out})
if fp == '' then  -- the pieces as they are: no string is made of them
  return {'ok', head .. '\n', unpack(pieces)}
end
local payload = head .. '\n' .. table.concat(pieces)
redis.call('HSET', idem, 'fp', fp, 'resp', payload)
if idem_ttl > 0 then redis.call('EXPIRE', idem, idem_ttl) end
return {'ok', payload}
