-- check.lua: read live counters and loyalty cards for a validation, counting other sessions'
-- reservations. (A function of the library store/counters.py builds: uses _lib.lua, _wallet.lua, _pay.lua.)
--
-- KEYS[1..n]          counter keys (full names, prefix included)
-- KEYS[n+1..n+7C]     C loyalty cards (wallets), 7 keys each in store.keys.CardKeys order
-- ARGV[1]             now_ms: current time in ms since epoch (holds with expiry <= now_ms are
--                     purged, the cards are normalised at now_ms)
-- ARGV[2]             session key whose own holds are NOT counted ('' = count every hold)
-- ARGV[3]             C (absent = 0)
-- ARGV[4..3+3C]       per card: campaign id, code, transaction id prefix
--
-- Returns     array of n + C integers: for each counter key, its value (0 if absent) plus the
--             amounts held on it by live sessions other than ARGV[2]; then for each card, the
--             points it can spend: its balance less what those sessions hold on it (>= 0).
-- Writes      only the purge of expired holds and the cards' normalisation (see _wallet.lua).

local now, session = tonumber(ARGV[1]), ARGV[2]
local C = tonumber(ARGV[3] or '0') or 0
local n = #KEYS - 7 * C
local out = {}
if n > 0 then
  local ks = {}
  for i = 1, n do ks[i] = KEYS[i] end
  local vals = redis.call('MGET', unpack(ks))
  local holds = any_holds(ks)
  for i = 1, n do
    local h = 0
    if holds then h = held_live(KEYS[i], now, session) end
    out[i] = (tonumber(vals[i]) or 0) + h
  end
end
if C > 0 then
  local cards = pay_cards(n, 4, C, 3, now)
  for i = 1, C do
    w_flush(cards[i])
    local s = pay_spendable(cards[i], now, session)
    if s < 0 then s = 0 end
    out[n + i] = s
  end
end
return out
