-- redeem.lua: check every limit and, only if all hold, count, record and log a redemption.
-- (A function of the library store/counters.py builds: uses _lib.lua, _wallet.lua, _pay.lua.)
--
-- KEYS[1]            ledger stream (<prefix>ledger)
-- KEYS[2]            idempotency key (<prefix>idem:redeem:<key>); ignored when ARGV[3] == ''
-- KEYS[3]            session index (<prefix>sess:<session key>); ignored when ARGV[2] == ''
-- KEYS[4..K+3]       the K distinct counter keys of the plan (full names); the H keys that some
--                    op with hold = 1 counts come first (KEYS[4..H+3])
-- KEYS[K+4..K+R+3]   the R redemption record keys (<prefix>rd:<id>), one per record below
-- KEYS[K+R+4..]      C loyalty cards (wallets), 7 keys each in store.keys.CardKeys order
-- ARGV[1]            now_ms
-- ARGV[2]            session key whose holds this redemption consumes ('' = none)
-- ARGV[3]            request fingerprint for the idempotency key ('' = no idempotency key)
-- ARGV[4]            idempotency answer TTL in seconds
-- ARGV[5]            ledger MAXLEN (approximate trimming; 0 = never trim)
-- ARGV[6]            response to store under the idempotency key (pre-serialized by Python; '' without one)
-- ARGV[7]            extra ledger payload (JSON string, '' = none)
-- ARGV[8], [9], [10], [11]  K, N (ops), R (records), H
-- ARGV[12]           the ledger entry's 'redemptions': JSON array of the R record ids (Python's)
-- ARGV[13]           the ledger entry's 'ops': JSON [[full counter key, "delta"], ...] of the N
--                    ops, in order (Python's; '[]' for none)
-- ARGV[14..]         N ops, 6 fields each: key index (1..K), delta, limit (-1 = none), error,
--                    ttl (s, 0 = none), hold (1 = reservations count against the limit)
-- then               R records, 5 fields each: id, data (JSON), parent id ('' = none),
--                    children (JSON array of ids, '[]' = none), ops (JSON [[full counter key,
--                    "delta"], ...] of the ops this record owns: those are reversed when it is
--                    rolled back; '[]' = none)
-- then (optional)    C, then per card 3 fields: campaign id, code, transaction id prefix
-- then               D, then D wallet debits, 7 fields each: card index (1..C), points,
--                    error, owning record index (0-based), details (JSON text written on the
--                    transaction), balance placeholder, points placeholder
--
-- Replies
--   {'ok', ledger entry id[, debits JSON]}    everything applied; with debits, a JSON array of
--                                             {tx, points, balance, total} per debit (the
--                                             card's figures right after it)
--   {'fail', index (0-based), current, held, error}   a limit would be exceeded (an op's index,
--                                             or N + a debit's: current = the card's balance,
--                                             held = other sessions' holds on it): nothing
--                                             written (apart from purging expired holds and
--                                             normalising the cards)
--   {'replay', stored response}               idempotency key seen with the same fingerprint
--   {'conflict'}                              idempotency key seen with another fingerprint
--   {'duplicate', record id}                  a record key already exists: nothing written
--
-- Check: for each op in order, current + (live holds of other sessions if hold = 1) + (sum of
-- this plan's deltas on that key up to this op) <= limit. Apply: INCRBY each op (EXPIRE ttl NX
-- for windowed counters), drop the session's holds, write each record as a hash
-- {id, status = SUCCEEDED, data, parent, children, ops, session, created_at}, XADD the ledger
-- entry {type = redeem, at, redemptions, ops, session[, debits][, data]}, store {fp, resp}
-- under the idempotency key. What the records and the ledger entry hold is Python's JSON,
-- written as sent (no table is built per op or per record, nothing is encoded here but the
-- debits' figures).
-- Debits: every card is normalised; the sum of a card's debits must be <= its balance less the
-- live holds of sessions other than ARGV[2] (checked after the ops). Each debit is applied
-- after the counters as a POINTS_REDEMPTION of its card (see _pay.lua); the placeholders
-- (plain text, e.g. -9123456789012345) are then replaced, in the response and the records'
-- data, by the card's balance and lifetime points right after the debit (written as '":'
-- followed by the number, so only JSON values are touched). The owning record keeps
-- 'wallet' = JSON [{c: campaign, v: code, x: tx prefix, t: transaction id, p: points,
-- k: [the card's 7 keys], d: details}] for rollback.lua, and the ledger entry a 'debits'
-- field [[campaign, code, points, transaction id], ...].

local ledger, idem, idx = KEYS[1], KEYS[2], KEYS[3]
local session, fp = ARGV[2], ARGV[3]
local K, N, R = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])

local stored = idempotent_answer(idem, fp)
if stored then return stored end

local obase = 14
local rbase = obase + N * 6
-- One EXISTS for every record key and the hold sets of the H keys that hold ops count: in the
-- common case (none exists) that is all. Else one EXISTS of the record keys tells the two apart
-- (the holds exist if the first found more), and which record exists is asked only if one does.
local H = tonumber(ARGV[11])
local holds = false
if R + H > 0 then
  local probe = {}
  for j = 1, R do probe[j] = KEYS[3 + K + j] end
  for i = 1, H do probe[R + i] = KEYS[3 + i] .. ':holds' end
  local found = redis.call('EXISTS', unpack(probe))
  if found > 0 then
    local recs = 0
    if R > 0 then recs = redis.call('EXISTS', unpack(KEYS, 4 + K, 3 + K + R)) end
    if recs > 0 then
      for j = 0, R - 1 do
        if redis.call('EXISTS', KEYS[4 + K + j]) == 1 then return {'duplicate', ARGV[rbase + j * 5]} end
      end
    end
    holds = found > recs
  end
end

local now = tonumber(ARGV[1])
local failed = check_args(obase, N, 3, K, holds, now, session)
if failed then return failed end

local cbase = rbase + R * 5
local C = tonumber(ARGV[cbase] or '0') or 0
local D = 0
local debits, cards
if C > 0 then
  local dbase = cbase + 1 + C * 3
  D = tonumber(ARGV[dbase])
  cards = pay_cards(3 + K + R, cbase + 1, C, 3, now)
  local want = {}
  debits = {}
  for d = 1, D do
    local b = dbase + 1 + (d - 1) * 7
    local ci = tonumber(ARGV[b])
    debits[d] = {ci = ci, p = tonumber(ARGV[b + 1]), err = ARGV[b + 2], rec = tonumber(ARGV[b + 3]),
                 details = ARGV[b + 4], tb = ARGV[b + 5], tt = ARGV[b + 6]}
    want[ci] = (want[ci] or 0) + debits[d].p
  end
  for d = 1, D do
    local ci = debits[d].ci
    if want[ci] then
      local s, held = pay_spendable(cards[ci], now, session)
      if s < want[ci] then
        for i = 1, C do w_flush(cards[i]) end
        return {'fail', N + d - 1, cards[ci].f.balance, held, debits[d].err}
      end
      want[ci] = nil
    end
  end
end

-- Apply.
for j = obase, rbase - 1, 6 do
  local k = KEYS[3 + tonumber(ARGV[j])]
  redis.call('INCRBY', k, ARGV[j + 1])
  if ARGV[j + 4] ~= '0' then redis.call('EXPIRE', k, ARGV[j + 4], 'NX') end
end
if session ~= '' then release_session(idx, session) end

local response = ARGV[6]
local fields = {'type', 'redeem', 'at', ARGV[1], 'redemptions', ARGV[12], 'ops', ARGV[13],
                'session', session}
local done
if D > 0 then
  -- Debits, then the cards' figures into the answer and the records.
  local wallets, dlog = {}, {}
  done = {}
  for d = 1, D do
    local dd = debits[d]
    local c = cards[dd.ci]
    local tx = pay_debit(c, dd.p, now, dd.details)
    local w = wallets[dd.rec]
    if w == nil then
      w = {}
      wallets[dd.rec] = w
    end
    w[#w + 1] = {c = c.campaign, v = c.code, x = c.prefix, t = tx, p = dd.p, d = dd.details,
                 k = {c.h, c.bk, c.bkp, c.pp, c.ppr, c.tx, c.rf}}
    done[d] = {tx = tx, points = dd.p, balance = c.f.balance, total = c.f.points}
    dlog[d] = {c.campaign, c.code, dd.p, tx}
    response = pay_fill(response, '":' .. dd.tb, '":' .. istr(c.f.balance))
    response = pay_fill(response, '":' .. dd.tt, '":' .. istr(c.f.points))
  end
  for i = 1, C do w_flush(cards[i]) end
  for j = 0, R - 1 do
    local b = rbase + j * 5
    local data = ARGV[b + 1]
    for d = 1, D do
      data = pay_fill(data, '":' .. debits[d].tb, '":' .. istr(done[d].balance))
      data = pay_fill(data, '":' .. debits[d].tt, '":' .. istr(done[d].total))
    end
    redis.call('HSET', KEYS[4 + K + j],
      'id', ARGV[b], 'status', 'SUCCEEDED', 'data', data, 'parent', ARGV[b + 2],
      'children', ARGV[b + 3], 'ops', ARGV[b + 4], 'session', session, 'created_at', ARGV[1])
    if wallets[j] then redis.call('HSET', KEYS[4 + K + j], 'wallet', cjson.encode(wallets[j])) end
  end
  fields[#fields + 1] = 'debits'
  fields[#fields + 1] = cjson.encode(dlog)
else
  if C > 0 then
    for i = 1, C do w_flush(cards[i]) end
  end
  -- Records: written as Python sent them (each keeps the [key, delta] of the ops it owns).
  for b = rbase, cbase - 1, 5 do
    redis.call('HSET', KEYS[4 + K + (b - rbase) / 5],
      'id', ARGV[b], 'status', 'SUCCEEDED', 'data', ARGV[b + 1], 'parent', ARGV[b + 2],
      'children', ARGV[b + 3], 'ops', ARGV[b + 4], 'session', session, 'created_at', ARGV[1])
  end
end

if ARGV[7] ~= '' then
  fields[#fields + 1] = 'data'
  fields[#fields + 1] = ARGV[7]
end
local entry
if ARGV[5] ~= '0' then
  entry = redis.call('XADD', ledger, 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
else
  entry = redis.call('XADD', ledger, '*', unpack(fields))
end

if fp ~= '' then
  redis.call('HSET', idem, 'fp', fp, 'resp', response)
  if ARGV[4] ~= '0' then redis.call('EXPIRE', idem, ARGV[4]) end
end
if D > 0 then return {'ok', entry, cjson.encode(done)} end
return {'ok', entry}
