"""The Lua scripts of budgets and the ledger: each public operation is one EVALSHA.

Plain Redis 7 Lua (also run by fakeredis[lua] in the offline demo). Every script reads
the clock with `TIME`, so budget windows and ledger days follow the Redis server's clock,
one clock for every worker whatever its host's drift. Every key a script touches is in
KEYS, all under the namespace's hash tag (`routing.keys`), so they run on Redis Cluster as
on one server or behind Sentinel.

KEYS (`routing.keys.spend_keys`; `p` is `{namespace}`), the same for every script:
1. `p:budget:window:<ws>`  the current budget window of length `ws` (the config's
   `budgets.window_seconds`): `idx` (floor(unix time / ws)) and `spent:<budget>`,
   `reserved:<budget>`, `estimated:<budget>` in micro-dollars, where `<budget>` is
   `overall`, `model_key:<key>` or `trial:<key>:<candidate>`. When time moves into the next
   window the hash starts afresh: a reservation is charged to the window it was made in.
2. `p:budget:resv`  call id -> its reservation (JSON: window, amount, budgets, ledger row).
3. `p:budget:reservations`  call ids by deadline (ms): one never settled is charged at its
   reserved bound, marked estimated, by whichever script runs next.
4. `p:budget:owners`  task id -> its open call ids (JSON), so that a redelivered task
   charges the calls its dead predecessor left open.
5-7 `p:ledger:<day>:agg` (day aggregates, field `key|model|tier|metric`), 8-10
   `...:calls` (per-call JSON records), 11-13 `...:trial`, 14-16 `...:trial_calls` (the
   same for shadow trials, apart from production), 17-19 `...:estimated` (call ids charged
   at their bound: a late settle of one is a duplicate): for the day before, of and after
   the caller's day; the script uses the server's.
20. `p:ledger:settled:<call id>`  marks the script's own call settled (a repeat: no-op).
21-23 `p:ledger:<day>:attr` (day aggregates per agent and per tag, field
   `agent|<agent>|metric` or `tag|<k=v>|metric`; a trial's metrics prefixed `trial_`),
   24-26 `...:runs` (a sorted set: run id -> its production micro-dollars that day, kept
   as long as runs), for the same three days.
27. `p:run:<run id>`  the run's hash: counters (`started`, `reserved`, `calls`, `micros`,
   tokens, `errors`, `refused`, `trial_*`), its cap (`cap_micros`, `cap_calls`, fixed by
   its first call), `agent`, `first_ts`, `last_ts`, and `stopped` / `exceeded` once it
   refuses every call; 28. `p:run:<run id>:calls` its calls in order. Both expire
   `LLM_ROUTER_RUN_DAYS` after the run's last call. A run's keys are also reached from a
   reservation of that run that expired (same hash tag, same slot).
ARGV[1] is the three days ("d0 d1 d2"); each script's own arguments follow.
"""

from __future__ import annotations

# Shared prelude: the clock, the day, the window, release and estimated charges, the purge.
_PRELUDE = """
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_ms = now_s * 1000 + math.floor(tonumber(t[2]) / 1000)
local W, RESV, INDEX, OWNERS, SETTLED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[20]

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

local today = utc_day(math.floor(now_s / 86400))
local slot = nil
local n = 0
for d in string.gmatch(ARGV[1], '%S+') do
  n = n + 1
  if d == today then slot = n end
end
if not slot then
  return redis.error_reply('CLOCK the Redis server is on ' .. today .. ', more than a day '
    .. 'from this host (' .. ARGV[1] .. '): check the clocks')
end
local PREFIX = string.sub(KEYS[2], 1, -(#':budget:resv' + 1))
local function run_of(run) return PREFIX .. ':run:' .. run end

-- Attribution of one call (or an estimated charge): the day's per-agent and per-tag rows
-- and the run's counters, calls listed in the run's order. `incs`: metric -> amount.
local function attribute(kind, agent, tags, run, keep, run_keep, incs, rec)
  local pre = kind == 'trial' and 'trial_' or ''
  local dims = {}
  if agent ~= '' then table.insert(dims, 'agent|' .. agent) end
  for tag in string.gmatch(tags, '%S+') do table.insert(dims, 'tag|' .. tag) end
  if #dims > 0 then
    local A = KEYS[20 + slot]
    for _, d in ipairs(dims) do
      for m, v in pairs(incs) do
        if v ~= 0 then redis.call('HINCRBY', A, d .. '|' .. pre .. m, v) end
      end
    end
    redis.call('EXPIRE', A, keep)
  end
  if run == '' then return end
  local R = run_of(run)
  for m, v in pairs(incs) do
    if v ~= 0 then redis.call('HINCRBY', R, pre .. m, v) end
  end
  if agent ~= '' then redis.call('HSETNX', R, 'agent', agent) end
  redis.call('HSETNX', R, 'first_ts', now_s)
  redis.call('HSET', R, 'last_ts', now_s)
  redis.call('EXPIRE', R, run_keep)
  rec.day = today
  rec.ts = tonumber(t[1]) + tonumber(t[2]) / 1000000
  redis.call('RPUSH', R .. ':calls', cjson.encode(rec))
  redis.call('EXPIRE', R .. ':calls', run_keep)
  if kind ~= 'trial' then
    local Z = KEYS[23 + slot]
    redis.call('ZINCRBY', Z, incs.micros or 0, run)
    redis.call('EXPIRE', Z, run_keep)
  end
end

local function agg_key(kind) return KEYS[(kind == 'trial' and 10 or 4) + slot] end
local function calls_key(kind) return KEYS[(kind == 'trial' and 13 or 7) + slot] end
local EST_TODAY = KEYS[16 + slot]

local function was_estimated(cid)
  return redis.call('HEXISTS', KEYS[17], cid) == 1 or redis.call('HEXISTS', KEYS[18], cid) == 1
    or redis.call('HEXISTS', KEYS[19], cid) == 1
end

-- The current window of length ws (KEYS[1] is its hash): the hash of a past one starts
-- afresh. Returns its index.
local function window(ws)
  local idx = math.floor(now_s / ws)
  if redis.call('HGET', W, 'idx') ~= tostring(idx) then
    redis.call('DEL', W)
    redis.call('HSET', W, 'idx', idx, 'ws', ws)
  end
  redis.call('EXPIRE', W, 2 * ws + 86400)
  return idx
end

-- True if a reservation was made in the window KEYS[1] holds (its counters are there).
local function current(r)
  local cur = redis.call('HMGET', W, 'ws', 'idx')
  return cur[1] == tostring(r.ws) and cur[2] == tostring(r.idx)
end

local function disown(owner, cid)
  if owner == '' then return end
  local raw = redis.call('HGET', OWNERS, owner)
  if not raw then return end
  local left = {}
  for _, other in ipairs(cjson.decode(raw)) do
    if other ~= cid then table.insert(left, other) end
  end
  if #left == 0 then redis.call('HDEL', OWNERS, owner)
  else redis.call('HSET', OWNERS, owner, cjson.encode(left)) end
end

-- Let go of one reservation; returns it (decoded) or nil.
local function release(cid)
  local raw = redis.call('HGET', RESV, cid)
  redis.call('ZREM', INDEX, cid)
  if not raw then return nil end
  local r = cjson.decode(raw)
  redis.call('HDEL', RESV, cid)
  disown(r.owner, cid)
  if r.run and r.run ~= '' and r.amount ~= 0 and redis.call('EXISTS', run_of(r.run)) == 1 then
    redis.call('HINCRBY', run_of(r.run), 'reserved', -r.amount)
  end
  if r.amount ~= 0 and current(r) then
    for _, b in ipairs(r.budgets) do redis.call('HINCRBY', W, 'reserved:' .. b, -r.amount) end
  end
  return r
end

-- A call that was never settled (its worker died after reserving): charged now at its
-- reserved, worst-case amount and marked estimated, so that spend is never under-counted.
-- A late settle of the same call id is then a duplicate (a bounded over-count).
local function charge_estimated(cid, why)
  local r = release(cid)
  if not r then return end
  redis.call('HSET', EST_TODAY, cid, now_s)
  redis.call('EXPIRE', EST_TODAY, 3 * 86400)
  if r.amount ~= 0 and current(r) then
    for _, b in ipairs(r.budgets) do
      redis.call('HINCRBY', W, 'spent:' .. b, r.amount)
      redis.call('HINCRBY', W, 'estimated:' .. b, r.amount)
    end
  end
  if r.model == '' then return end
  local agg = agg_key(r.agg)
  local p = r.mk .. '|' .. r.model .. '|' .. r.tier .. '|'
  redis.call('HINCRBY', agg, p .. 'calls', 1)
  redis.call('HINCRBY', agg, p .. 'estimated_calls', 1)
  if r.amount ~= 0 then
    redis.call('HINCRBY', agg, p .. 'micros', r.amount)
    redis.call('HINCRBY', agg, p .. 'estimated_micros', r.amount)
  end
  redis.call('EXPIRE', agg, r.agg_keep)
  local calls = calls_key(r.agg)
  redis.call('RPUSH', calls, cjson.encode({task_id = r.owner, call_id = cid, model_key = r.mk,
    model = r.model, tier = r.tier, cost_micros = r.amount, outcome = 'estimated',
    estimated = why, trial = r.agg ~= 'agg', day = today,
    ts = tonumber(t[1]) + tonumber(t[2]) / 1000000}))
  redis.call('EXPIRE', calls, r.keep)
  if r.run or r.agent then
    attribute(r.agg, r.agent or '', r.tags or '', r.run or '', r.agg_keep, r.run_keep or r.keep,
      {calls = 1, micros = r.amount, estimated_micros = r.amount},
      {task_id = r.owner, call_id = cid, agent = r.agent or '', model_key = r.mk,
       model = r.model, tier = r.tier,
       hop = 'estimated', cost_micros = r.amount, outcome = 'estimated'})
  end
end

-- Charge the reservations past their deadline (after `window`, in scripts that know it).
local function purge()
  for _, cid in ipairs(redis.call('ZRANGEBYSCORE', INDEX, '-inf', now_ms, 'LIMIT', 0, 100)) do
    charge_estimated(cid, 'expired')
  end
end
"""

# ARGV: days, window_seconds, call_id, model_key, needed, ttl_ms, model, tier,
#       aggregate ('agg'|'trial'), owner (the task id, or '' for a trial), keep_s,
#       agg_keep_s, agent, run id, tags ('k=v k=v'), run cap micros|'', run cap calls|''
#       (a run's first call fixes its cap), run_keep_s, then (budget name, limit|'') pairs:
#       every named budget is checked (where it has a limit) and holds the amount.
# -> {1, window_index, already_reserved 0|1} or {0, window_index, budget, limit, spent,
#    reserved}, or {2, window_index} when the call id was settled already (a trial replayed
#    twice is made once), or {3, window_index, why, spent, cap_micros, started, cap_calls}
#    when the run refuses the call (stopped, or its cap reached: then every later call).
RESERVE = _PRELUDE + """
local ws, cid, mk, needed = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local idx = window(ws)
purge()
if redis.call('HEXISTS', RESV, cid) == 1 then
  return {1, idx, 1}
end
if redis.call('EXISTS', SETTLED) == 1 or was_estimated(cid) then
  return {2, idx}
end
local agent, run = ARGV[13], ARGV[14]
local R = KEYS[27]
if run ~= '' then
  local v = redis.call('HMGET', R, 'stopped', 'exceeded', 'micros', 'reserved', 'started',
    'cap_micros', 'cap_calls')
  local cap_m, cap_c = v[6] or ARGV[16], v[7] or ARGV[17]
  local spent, held = tonumber(v[3] or '0'), tonumber(v[4] or '0')
  local started = tonumber(v[5] or '0')
  local why = nil
  if v[1] then why = 'stopped'
  elseif v[2] then why = v[2]
  elseif cap_c ~= '' and started + 1 > tonumber(cap_c) then why = 'max calls'
  elseif cap_m ~= '' and spent + held + needed > tonumber(cap_m) then why = 'max usd' end
  if why then
    if why ~= 'stopped' then redis.call('HSET', R, 'exceeded', why) end
    redis.call('HINCRBY', R, 'refused', 1)
    redis.call('EXPIRE', R, ARGV[18])
    return {3, idx, why, spent, cap_m, started, cap_c}
  end
end
local names = {}
for i = 19, #ARGV, 2 do
  local name, limit = ARGV[i], ARGV[i + 1]
  table.insert(names, name)
  if limit ~= '' then
    local v = redis.call('HMGET', W, 'spent:' .. name, 'reserved:' .. name)
    local spent, reserved = v[1] or '0', v[2] or '0'
    if tonumber(spent) + tonumber(reserved) + needed > tonumber(limit) then
      return {0, idx, name, limit, spent, reserved}
    end
  end
end
if needed ~= 0 then
  for _, name in ipairs(names) do redis.call('HINCRBY', W, 'reserved:' .. name, needed) end
end
local ttl_ms = tonumber(ARGV[6])
local owner = ARGV[10]
redis.call('HSET', RESV, cid, cjson.encode({ws = ws, idx = idx, amount = needed,
  budgets = names, mk = mk, model = ARGV[7], tier = ARGV[8], agg = ARGV[9], owner = owner,
  keep = tonumber(ARGV[11]), agg_keep = tonumber(ARGV[12]), agent = agent, run = run,
  tags = ARGV[15], run_keep = tonumber(ARGV[18])}))
if run ~= '' then
  redis.call('HINCRBY', R, 'started', 1)
  if needed ~= 0 then redis.call('HINCRBY', R, 'reserved', needed) end
  if ARGV[16] ~= '' then redis.call('HSETNX', R, 'cap_micros', ARGV[16]) end
  if ARGV[17] ~= '' then redis.call('HSETNX', R, 'cap_calls', ARGV[17]) end
  if agent ~= '' then redis.call('HSETNX', R, 'agent', agent) end
  redis.call('HSETNX', R, 'first_ts', now_s)
  redis.call('EXPIRE', R, ARGV[18])
end
redis.call('ZADD', INDEX, now_ms + ttl_ms, cid)
if owner ~= '' then
  local raw = redis.call('HGET', OWNERS, owner)
  local open = raw and cjson.decode(raw) or {}
  table.insert(open, cid)
  redis.call('HSET', OWNERS, owner, cjson.encode(open))
end
return {1, idx, 0}
"""

# ARGV: days, window_seconds, call_id, model_key, model, tier, cost, input, output,
#       cache_read, cache_write, flags ('fallback,escalation'), is_error '1'|'0',
#       keep_s, agg_keep_s, record JSON (an object), budgets charged without a
#       reservation (space-separated), aggregate ('agg'|'trial'), extra row increments
#       ('metric=n,metric=n': outcome, latency buckets, errors), owner (the task id, or
#       ''), run (this execution's call id suffix), increments on a repeat ('metric=n,...'
#       added to the row instead when the call id was settled already: a trial's replay),
#       agent, run id, tags ('k=v k=v'), run_keep_s, hop (how the call's model was reached:
#       '', 'fallback', 'escalate', 'downgrade', 'reroute', 'batch', ...), task id
# -> {1, day, reserved_amount} or {0, '', 0} when the call id was settled already.
# Open reservations of the same task from another execution (a delivery whose worker died)
# are charged first, as estimated: by the time a redelivered task is done, so is that.
SETTLE = _PRELUDE + """
local ws, cid, mk, cost = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[7])
local owner, run = ARGV[20], ARGV[21]
window(ws)
purge()
if owner ~= '' then
  local raw = redis.call('HGET', OWNERS, owner)
  local suffix = ':' .. run
  for _, other in ipairs(raw and cjson.decode(raw) or {}) do
    if other ~= cid and string.sub(other, -#suffix) ~= suffix then
      charge_estimated(other, 'redelivered')
    end
  end
end
if was_estimated(cid) or not redis.call('SET', SETTLED, '1', 'NX', 'EX', 172800) then
  release(cid)
  if ARGV[22] ~= '' then  -- a repeat counted where the first settle counted (a replay)
    local agg = agg_key(ARGV[18])
    for metric, value in string.gmatch(ARGV[22], '([^,=]+)=(%d+)') do
      redis.call('HINCRBY', agg, mk .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|' .. metric, value)
    end
    redis.call('EXPIRE', agg, ARGV[15])
  end
  return {0, '', 0}
end
local r = release(cid)
local reserved = 0
if r then
  reserved = r.amount
  if cost ~= 0 and current(r) then
    for _, b in ipairs(r.budgets) do redis.call('HINCRBY', W, 'spent:' .. b, cost) end
  end
elseif cost ~= 0 then
  for b in string.gmatch(ARGV[17], '%S+') do redis.call('HINCRBY', W, 'spent:' .. b, cost) end
end
local agg = agg_key(ARGV[18])
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
  if cost ~= 0 then redis.call('HINCRBY', agg, p .. flag .. '_micros', cost) end
end
for metric, value in string.gmatch(ARGV[19], '([^,=]+)=(%d+)') do
  redis.call('HINCRBY', agg, p .. metric, value)
end
redis.call('EXPIRE', agg, ARGV[15])
local calls = calls_key(ARGV[18])
local rec = ARGV[16]
rec = string.sub(rec, 1, -2) .. ',"ts":' .. t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
  .. ',"day":"' .. today .. '","reserved_micros":' .. reserved .. '}'
redis.call('RPUSH', calls, rec)
redis.call('EXPIRE', calls, ARGV[14])
if ARGV[23] ~= '' or ARGV[24] ~= '' or ARGV[25] ~= '' then
  local err = ARGV[13] == '1'
  attribute(ARGV[18], ARGV[23], ARGV[25], ARGV[24], ARGV[15], ARGV[26],
    {calls = 1, micros = cost, input_tokens = tonumber(ARGV[8]),
     output_tokens = tonumber(ARGV[9]), cache_read_tokens = tonumber(ARGV[10]),
     cache_write_tokens = tonumber(ARGV[11]), errors = err and 1 or 0},
    {task_id = ARGV[28], call_id = cid, agent = ARGV[23], model_key = mk, model = ARGV[5],
     tier = ARGV[6],
     hop = ARGV[27], cost_micros = cost, outcome = err and 'error' or 'ok',
     trial = ARGV[18] == 'trial', input_tokens = tonumber(ARGV[8]),
     output_tokens = tonumber(ARGV[9]), cache_read_tokens = tonumber(ARGV[10]),
     cache_write_tokens = tonumber(ARGV[11])})
end
return {1, today, reserved}
"""

# Counts on one aggregate row of today, no call: a hop (fallback, escalation) taken from a
# model, or a shadow trial's scores. ARGV: days, aggregate ('agg'|'trial'), row prefix
# ('key|model|tier'), agg_keep_s, increments ('metric=n,...') -> day
COUNT = _PRELUDE + """
local agg = agg_key(ARGV[2])
for metric, value in string.gmatch(ARGV[5], '([^,=]+)=(%d+)') do
  redis.call('HINCRBY', agg, ARGV[3] .. '|' .. metric, value)
end
redis.call('EXPIRE', agg, ARGV[4])
return today
"""

# A budget refusal (deferral or rejection) is counted and listed, and spends nothing.
# ARGV: days, model_key, model, tier, kind ('deferrals'|'rejections'), needed, keep_s,
#       agg_keep_s, record JSON -> day
REFUSAL = _PRELUDE + """
local agg = agg_key('agg')
local p = ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|'
redis.call('HINCRBY', agg, p .. ARGV[5], 1)
redis.call('HINCRBY', agg, p .. ARGV[5] .. '_needed_micros', ARGV[6])
redis.call('EXPIRE', agg, ARGV[8])
local calls = calls_key('agg')
local rec = ARGV[9]
rec = string.sub(rec, 1, -2) .. ',"ts":' .. t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
  .. ',"day":"' .. today .. '"}'
redis.call('RPUSH', calls, rec)
redis.call('EXPIRE', calls, ARGV[7])
return today
"""

# ARGV: days, window_seconds, budget names...
# -> {now_s, window_index, spent1, reserved1, estimated1, ...}
STATUS = _PRELUDE + """
local idx = window(tonumber(ARGV[2]))
purge()
local out = {now_s, idx}
for i = 3, #ARGV do
  local v = redis.call('HMGET', W, 'spent:' .. ARGV[i], 'reserved:' .. ARGV[i],
    'estimated:' .. ARGV[i])
  table.insert(out, v[1] or '0')
  table.insert(out, v[2] or '0')
  table.insert(out, v[3] or '0')
end
return out
"""
