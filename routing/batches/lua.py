"""The Lua scripts of provider batches (`routing.batches.store`): each step is one EVALSHA.

Every script reads the clock with `TIME` (the Redis server's, one clock for every worker)
and touches only the keys it is given in KEYS, all under the namespace's hash tag, so they
run on Redis Cluster as on one server. Times are unix milliseconds.

A model's open batch lives under fixed keys (`p:batch:open:<model>` and its `:items`):
appending needs no read first. Closing it (the call that fills it, or a sweeper once it
is due) renames both to the batch's own keys (`p:batch:<id>`, `p:batch:<id>:items`),
atomically, so a call appended a moment later starts the next open batch. `p:batch:due`
scores each model's open batch by when it is due, `p:batch:active` lists the closed
batches not done yet (id -> model), and `p:batch:task:<task id>` is a task's record:
which item it is (`rec`) and, once the provider answered, its `outcome`.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: open meta, open items, due, task record, active, new batch meta, new batch items.
# ARGV: model, provider, provider model, custom id, item JSON, record JSON, max items,
# max wait ms, max bytes, keep seconds, new batch id. The call that fills the open batch
# closes it into the new batch (to be submitted, unclaimed), so no batch overfills.
# -> {1, count, closed 0|1}, or {0, 0, 0} when the task is in a batch already (a redelivery).
APPEND = _NOW + """
if redis.call('EXISTS', KEYS[4]) == 1 then return {0, 0, 0} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'model', ARGV[1], 'provider', ARGV[2], 'provider_model', ARGV[3],
    'created', now, 'count', 0, 'bytes', 0, 'max_items', ARGV[7],
    'due', now + tonumber(ARGV[8]))
end
if redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[5]) == 0 then return {0, 0, 0} end
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
local bytes = redis.call('HINCRBY', KEYS[1], 'bytes', #ARGV[5])
local m = redis.call('HMGET', KEYS[1], 'max_items', 'due')
local max_items = math.min(tonumber(m[1]), tonumber(ARGV[7]))
local due = math.min(tonumber(m[2]), now + tonumber(ARGV[8]))
redis.call('HSET', KEYS[1], 'max_items', max_items, 'due', due)
redis.call('HSET', KEYS[4], 'rec', ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[10])
if count >= max_items or bytes >= tonumber(ARGV[9]) then
  redis.call('RENAME', KEYS[1], KEYS[6])
  redis.call('RENAME', KEYS[2], KEYS[7])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[6], 'id', ARGV[11], 'state', 'submitting', 'closed', now,
    'claim_until', 0, 'attempts', 0)
  redis.call('HSET', KEYS[5], ARGV[11], ARGV[1])
  return {1, count, 1}
end
redis.call('ZADD', KEYS[3], due, ARGV[1])
return {1, count, 0}
"""

# KEYS: open meta, open items, due, active, batch meta, batch items. ARGV: model, batch id,
# claim token, claim ms, force '1'|'0'. Closes the model's open batch when it is due (or
# when forced) into a batch being submitted, claimed by the caller. -> 1 closed, 0 not.
CLOSE = _NOW + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
if ARGV[5] ~= '1' and score and tonumber(score) > now then return 0 end
redis.call('RENAME', KEYS[1], KEYS[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[6]) end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[5], 'id', ARGV[2], 'state', 'submitting', 'closed', now,
  'claim', ARGV[3], 'claim_until', now + tonumber(ARGV[4]), 'attempts', 0)
redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
return 1
"""

# KEYS: batch meta. ARGV: claim token, claim ms, the states it may be claimed in
# (space-separated). -> 1 claimed (no one else holds a live claim), 0 not.
CLAIM = _NOW + """
local m = redis.call('HMGET', KEYS[1], 'state', 'claim_until')
if not m[1] then return 0 end
local allowed = false
for s in string.gmatch(ARGV[3], '%S+') do
  if s == m[1] then allowed = true end
end
if not allowed or (m[2] and tonumber(m[2]) > now) then return 0 end
redis.call('HSET', KEYS[1], 'claim', ARGV[1], 'claim_until', now + tonumber(ARGV[2]))
return 1
"""

# KEYS: batch meta. ARGV: claim token, release '1'|'0', then field, value pairs (a value
# 'NOW' is the server's time). -> 1 written, 0 when the caller's claim was lost.
UPDATE = _NOW + """
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then return 0 end
for i = 3, #ARGV - 1, 2 do
  local value = ARGV[i + 1]
  if value == 'NOW' then value = now end
  redis.call('HSET', KEYS[1], ARGV[i], value)
end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'claim_until', 0) end
return 1
"""

# KEYS: batch meta, items, sent, active. ARGV: claim token, batch id, final state, keep s.
# The batch is over: no longer active; its keys are kept `keep` seconds for inspection.
FINISH = _NOW + """
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'claim_until', 0, 'finished', now)
redis.call('HDEL', KEYS[4], ARGV[2])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return 1
"""

# KEYS: task record. ARGV: record JSON (written if the record is gone), outcome JSON, keep
# seconds. The outcome is written once. -> 1 written, 0 there already.
OUTCOME = """
redis.call('HSETNX', KEYS[1], 'rec', ARGV[1])
local written = redis.call('HSETNX', KEYS[1], 'outcome', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return written
"""
