"""The Lua script of recorded samples (`routing.samples.store`): one write is one EVALSHA.

KEYS: the key's index (a sorted set: sample id scored by when it was recorded, unix
seconds), its bodies (a hash: sample id -> JSON), its stats (a hash of counters). All
under the namespace's hash tag; the script touches only these keys.
"""

from __future__ import annotations

# ARGV: sample id, now (unix seconds), body JSON, retention seconds, max count.
# Drops the samples older than the retention, then the oldest beyond the max count, and
# sets every key's TTL to the retention (a key nothing is recorded on any more vanishes).
# -> the number of samples kept.
RECORD = """
local now, ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl))
for _, id in ipairs(old) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl))
local n = redis.call('ZCARD', KEYS[1])
if n > cap then
  local extra = redis.call('ZRANGE', KEYS[1], 0, n - cap - 1)
  for _, id in ipairs(extra) do redis.call('HDEL', KEYS[2], id) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  redis.call('HINCRBY', KEYS[3], 'dropped_for_count', n - cap)
  n = cap
end
redis.call('HINCRBY', KEYS[3], 'recorded', 1)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
return n
"""

# ARGV: now (unix seconds), retention seconds. Drops the samples older than the
# retention. -> the number dropped.
PRUNE = """
local cutoff = tonumber(ARGV[1]) - tonumber(ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff)
for _, id in ipairs(old) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff)
return #old
"""
