-- lock.lua: reserve a validation session's uses / credits / points for a while (session LOCK).
-- (A function of the library store/counters.py builds: uses _lib.lua, _wallet.lua, _pay.lua.)
--
-- KEYS[1]               session index (<prefix>sess:<session key>)
-- KEYS[2..K+1]          the distinct counter keys of the plan (full names)
-- KEYS[K+2..K+7C+1]     C loyalty cards (wallets), 7 keys each in store.keys.CardKeys order
-- ARGV[1]               now_ms
-- ARGV[2]               session key (non-empty)
-- ARGV[3]               ttl_ms: the holds expire at now_ms + ttl_ms
-- ARGV[4]               N, the number of ops
-- ARGV[5..4+6N]         N ops, 6 fields each: key index (1..K), delta, limit (-1 = none), error,
--                       ttl, hold
-- ARGV[5+6N]            C (absent = 0): distinct cards whose points to hold
-- then                  per card 5 fields: campaign id, code, transaction id prefix, points,
--                       error
--
-- Every op is checked as in redeem.lua (current + live holds of OTHER sessions, for ops with
-- hold = 1, + this plan's deltas on the key <= limit), then every card (normalised: its
-- balance less the live holds of other sessions >= its points). If one fails, nothing is
-- written (apart from purging expired holds and normalising cards) and the reply is
-- {'fail', index (0-based; an op's, or N + a card's), current (a card: its balance), held,
-- error}. Else the session's previous holds (if any) are dropped, the summed deltas of its
-- hold = 1 ops are held on their keys and each card's points on the card (c.h, see
-- _pay.lua) until now_ms + ttl_ms; the reply is {'ok', expires_at_ms}.

local idx = KEYS[1]
local now, session, ttl_ms, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local cbase = 5 + n * 6
local C = tonumber(ARGV[cbase] or '0') or 0
local ops = parse_ops(5, n)
local failed = check_ops(ops, 1, now, session)
if failed then return failed end

local cards = pay_cards(#KEYS - 7 * C, cbase + 1, C, 5, now)
for i = 1, C do w_flush(cards[i]) end
for i = 1, C do
  local b = cbase + 1 + (i - 1) * 5
  local s, held = pay_spendable(cards[i], now, session)
  if s < tonumber(ARGV[b + 3]) then
    return {'fail', n + i - 1, cards[i].f.balance, held, ARGV[b + 4]}
  end
end

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
  pay_hold(idx, KEYS[1 + order[i]], session, amount[order[i]], exp, keep_ms)
end
for i = 1, C do
  pay_hold(idx, cards[i].h, session, tonumber(ARGV[cbase + 1 + (i - 1) * 5 + 3]), exp, keep_ms)
end
if #order > 0 or C > 0 then redis.call('PEXPIRE', idx, keep_ms) end
return {'ok', exp}
