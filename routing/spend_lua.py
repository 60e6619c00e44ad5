"""The Lua scripts of budgets and the ledger: each public operation is one EVALSHA.

Plain Redis 7 Lua (also run by fakeredis[lua] in the offline demo). Every script reads
the clock with `TIME`, so budget windows and ledger days follow the Redis server's clock,
one clock for every worker whatever its host's drift. Scripts touch keys they compute from
the namespace (not declared in KEYS): fine on a single Redis or Sentinel, not on Cluster.

Keys (`ns` is the namespace):
- `ns:budget:w<seconds>:<index>`  hash per budget window: `spent:<budget>` and
  `reserved:<budget>` in micro-dollars; `<budget>` is `overall`, `model_key:<key>` or
  `trial:<key>:<candidate>` (a shadow trial's own budget).
- `ns:budget:resv:<call id>`  hash of one reservation (window key, amount, budgets).
- `ns:budget:reservations`  sorted set of call ids by deadline (ms): expired reservations
  are released by whichever script runs next, so a crashed worker's hold stops counting.
- `ns:ledger:<YYYY-MM-DD>:agg`  hash of day aggregates, field `key|model|tier|metric`.
- `ns:ledger:<YYYY-MM-DD>:calls`  list of per-call JSON records (kept `keep` seconds).
- `ns:ledger:<YYYY-MM-DD>:trial`, `...:trial_calls`  the same for shadow-trial calls and
  scores (`key|candidate|tier|metric`), apart from production spend.
- `ns:ledger:settled:<call id>`  marks a settled call, so a repeated settle is a no-op.
"""

from __future__ import annotations

# Shared prelude: the clock, the UTC day, the release of one reservation, the purge.
_PRELUDE = """
local ns = ARGV[1]
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_ms = now_s * 1000 + math.floor(tonumber(t[2]) / 1000)
local resv_index = ns .. ':budget:reservations'

local function window_key(ws)
  local idx = math.floor(now_s / ws)
  return ns .. ':budget:w' .. ws .. ':' .. idx, idx
end

local function utc_day(days)
  -- days since 1970-01-01 -> 'YYYY-MM-DD' (H. Hinnant's civil_from_days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02d', y, m, d)
end

local function release(cid)
  local rkey = ns .. ':budget:resv:' .. cid
  local r = redis.call('HMGET', rkey, 'window', 'amount', 'budgets', 'model_key', 'model',
    'tier', 'agg', 'owner', 'keep', 'agg_keep')
  redis.call('ZREM', resv_index, cid)
  if not r[1] then return nil end
  if r[2] ~= '0' then
    for b in string.gmatch(r[3], '%S+') do
      redis.call('HINCRBY', r[1], 'reserved:' .. b, '-' .. r[2])
    end
  end
  if r[8] and r[8] ~= '' then redis.call('SREM', ns .. ':budget:task:' .. r[8], cid) end
  redis.call('DEL', rkey)
  return r
end

-- A call that was never settled (its worker died after reserving): charged now at its
-- reserved, worst-case amount and marked estimated, so that spend is never under-counted.
-- A late settle of the same call id is then a duplicate (a bounded over-count).
local function charge_estimated(cid, why)
  local r = release(cid)
  if not r then return end
  if not redis.call('SET', ns .. ':ledger:settled:' .. cid, '1', 'NX', 'EX', 172800) then
    return
  end
  local amount = r[2]
  if amount ~= '0' then
    for b in string.gmatch(r[3], '%S+') do
      redis.call('HINCRBY', r[1], 'spent:' .. b, amount)
      redis.call('HINCRBY', r[1], 'estimated:' .. b, amount)
    end
  end
  if not r[5] or r[5] == '' then return end
  local day = utc_day(math.floor(now_s / 86400))
  local agg = ns .. ':ledger:' .. day .. ':' .. r[7]
  local p = r[4] .. '|' .. r[5] .. '|' .. r[6] .. '|'
  redis.call('HINCRBY', agg, p .. 'calls', 1)
  redis.call('HINCRBY', agg, p .. 'estimated_calls', 1)
  if amount ~= '0' then
    redis.call('HINCRBY', agg, p .. 'micros', amount)
    redis.call('HINCRBY', agg, p .. 'estimated_micros', amount)
  end
  redis.call('EXPIRE', agg, r[10])
  local calls = ns .. ':ledger:' .. day .. ':' .. (r[7] == 'agg' and 'calls' or 'trial_calls')
  redis.call('RPUSH', calls, cjson.encode({task_id = r[8], call_id = cid, model_key = r[4],
    model = r[5], tier = r[6], cost_micros = tonumber(amount), outcome = 'estimated',
    estimated = why, trial = r[7] ~= 'agg', day = day,
    ts = tonumber(t[1]) + tonumber(t[2]) / 1000000}))
  redis.call('EXPIRE', calls, r[9])
end

for _, cid in ipairs(redis.call('ZRANGEBYSCORE', resv_index, '-inf', now_ms, 'LIMIT', 0, 100)) do
  charge_estimated(cid, 'expired')
end
"""

# ARGV: ns, window_seconds, call_id, model_key, needed, ttl_ms, window_ttl_s, model, tier,
#       aggregate ('agg'|'trial'), owner (the task id, or '' for a trial), keep_s,
#       agg_keep_s, then (budget name, limit|'') pairs: every named budget is checked (where
#       it has a limit) and holds the amount.
# -> {1, window_index, already_reserved 0|1} or {0, window_index, budget, limit, spent,
#    reserved}, or {2, window_index} when the call id was settled already (a trial replayed
#    twice is made once).
RESERVE = _PRELUDE + """
local ws, cid, mk, needed = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local wkey, idx = window_key(ws)
local rkey = ns .. ':budget:resv:' .. cid
if redis.call('EXISTS', rkey) == 1 then
  return {1, idx, 1}
end
if redis.call('EXISTS', ns .. ':ledger:settled:' .. cid) == 1 then
  return {2, idx}
end
local names = {}
for i = 14, #ARGV, 2 do
  local name, limit = ARGV[i], ARGV[i + 1]
  table.insert(names, name)
  if limit ~= '' then
    local v = redis.call('HMGET', wkey, 'spent:' .. name, 'reserved:' .. name)
    local spent, reserved = v[1] or '0', v[2] or '0'
    if tonumber(spent) + tonumber(reserved) + tonumber(needed) > tonumber(limit) then
      return {0, idx, name, limit, spent, reserved}
    end
  end
end
if needed ~= '0' then
  for _, name in ipairs(names) do redis.call('HINCRBY', wkey, 'reserved:' .. name, needed) end
end
redis.call('EXPIRE', wkey, ARGV[7])
local ttl_ms = tonumber(ARGV[6])
redis.call('HSET', rkey, 'window', wkey, 'amount', needed, 'budgets', table.concat(names, ' '),
  'model_key', mk, 'model', ARGV[8], 'tier', ARGV[9], 'agg', ARGV[10], 'owner', ARGV[11],
  'keep', ARGV[12], 'agg_keep', ARGV[13], 'deadline_ms', now_ms + ttl_ms)
if ARGV[11] ~= '' then
  local owned = ns .. ':budget:task:' .. ARGV[11]
  redis.call('SADD', owned, cid)
  redis.call('PEXPIRE', owned, ttl_ms + 86400000)
end
-- the hash outlives its deadline by a day so that the purge can still read what to release
redis.call('PEXPIRE', rkey, ttl_ms + 86400000)
redis.call('ZADD', resv_index, now_ms + ttl_ms, cid)
return {1, idx, 0}
"""

# ARGV: ns, window_seconds, call_id, model_key, model, tier, cost, input, output,
#       cache_read, cache_write, flags ('fallback,escalation'), is_error '1'|'0',
#       keep_s, agg_keep_s, window_ttl_s, record JSON (an object),
#       budgets charged without a reservation (space-separated), aggregate ('agg' for
#       production, 'trial' for shadow trials), call list ('calls' | 'trial_calls'),
#       extra row increments ('metric=n,metric=n': outcome, latency buckets, errors),
#       owner (the task id, or ''), run (this execution's call id suffix)
# -> {1, day, reserved_amount} or {0, '', 0} when the call id was settled already.
# Open reservations of the same task from another execution (a delivery whose worker died)
# are charged first, as estimated: by the time a redelivered task is done, so is that.
SETTLE = _PRELUDE + """
local ws, cid, mk, cost = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[7]
if ARGV[22] ~= '' then
  local suffix = ':' .. ARGV[23]
  for _, other in ipairs(redis.call('SMEMBERS', ns .. ':budget:task:' .. ARGV[22])) do
    if string.sub(other, -#suffix) ~= suffix then charge_estimated(other, 'redelivered') end
  end
end
if not redis.call('SET', ns .. ':ledger:settled:' .. cid, '1', 'NX', 'EX', 172800) then
  return {0, '', 0}
end
local r = release(cid)
local wkey, budgets, reserved = nil, ARGV[18], '0'
if r then
  wkey, reserved, budgets = r[1], r[2], r[3]
else
  wkey = window_key(ws)
end
if cost ~= '0' then
  for b in string.gmatch(budgets, '%S+') do redis.call('HINCRBY', wkey, 'spent:' .. b, cost) end
end
redis.call('EXPIRE', wkey, ARGV[16])
local day = utc_day(math.floor(now_s / 86400))
local agg = ns .. ':ledger:' .. day .. ':' .. ARGV[19]
local p = mk .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|'
redis.call('HINCRBY', agg, p .. 'calls', 1)
if ARGV[13] == '1' then redis.call('HINCRBY', agg, p .. 'errors', 1) end
local metrics = {'micros', 'input_tokens', 'output_tokens', 'cache_read_tokens',
  'cache_write_tokens'}
for i, m in ipairs(metrics) do
  local v = ARGV[6 + i]
  if v ~= '0' then redis.call('HINCRBY', agg, p .. m, v) end
end
for flag in string.gmatch(ARGV[12], '[^,]+') do
  redis.call('HINCRBY', agg, p .. flag .. '_calls', 1)
  if cost ~= '0' then redis.call('HINCRBY', agg, p .. flag .. '_micros', cost) end
end
for metric, n in string.gmatch(ARGV[21], '([^,=]+)=(%d+)') do
  redis.call('HINCRBY', agg, p .. metric, n)
end
redis.call('EXPIRE', agg, ARGV[15])
local calls = ns .. ':ledger:' .. day .. ':' .. ARGV[20]
local rec = ARGV[17]
rec = string.sub(rec, 1, -2) .. ',"ts":' .. t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
  .. ',"day":"' .. day .. '","reserved_micros":' .. reserved .. '}'
redis.call('RPUSH', calls, rec)
redis.call('EXPIRE', calls, ARGV[14])
return {1, day, reserved}
"""

# Counts on one aggregate row of today, no call: a hop (fallback, escalation) taken from a
# model, or a shadow trial's scores. ARGV: ns, aggregate ('agg'|'trial'), row prefix
# ('key|model|tier'), agg_keep_s, increments ('metric=n,...') -> day
COUNT = _PRELUDE + """
local day = utc_day(math.floor(now_s / 86400))
local agg = ns .. ':ledger:' .. day .. ':' .. ARGV[2]
for metric, n in string.gmatch(ARGV[5], '([^,=]+)=(%d+)') do
  redis.call('HINCRBY', agg, ARGV[3] .. '|' .. metric, n)
end
redis.call('EXPIRE', agg, ARGV[4])
return day
"""

# A budget refusal (deferral or rejection) is counted and listed, and spends nothing.
# ARGV: ns, model_key, model, tier, kind ('deferrals'|'rejections'), needed, keep_s,
#       agg_keep_s, record JSON -> day
REFUSAL = _PRELUDE + """
local day = utc_day(math.floor(now_s / 86400))
local agg = ns .. ':ledger:' .. day .. ':agg'
local p = ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|'
redis.call('HINCRBY', agg, p .. ARGV[5], 1)
redis.call('HINCRBY', agg, p .. ARGV[5] .. '_needed_micros', ARGV[6])
redis.call('EXPIRE', agg, ARGV[8])
local calls = ns .. ':ledger:' .. day .. ':calls'
local rec = ARGV[9]
rec = string.sub(rec, 1, -2) .. ',"ts":' .. t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
  .. ',"day":"' .. day .. '"}'
redis.call('RPUSH', calls, rec)
redis.call('EXPIRE', calls, ARGV[7])
return day
"""

# ARGV: ns, window_seconds, budget names...
# -> {now_s, window_index, spent1, reserved1, estimated1, ...}
STATUS = _PRELUDE + """
local ws = tonumber(ARGV[2])
local wkey, idx = window_key(ws)
local out = {now_s, idx}
for i = 3, #ARGV do
  local v = redis.call('HMGET', wkey, 'spent:' .. ARGV[i], 'reserved:' .. ARGV[i],
    'estimated:' .. ARGV[i])
  table.insert(out, v[1] or '0')
  table.insert(out, v[2] or '0')
  table.insert(out, v[3] or '0')
end
return out
"""
