"""Taking a message off its queue and recording it as delivered, in one step.

kombu pops with BRPOP and records the delivery (the `unacked` hash, here with its lease)
with a second command once the reply is read. Between the two the message is in no queue
and in no record: a worker killed then (or whose connection drops with the reply on its
way) loses the task for good. Here the worker sends instead the Lua script `CLAIM`, which
pops from the first non-empty key in kombu's order (each priority, then each queue) and
records the delivery with its lease before it replies: a message is always in Redis,
queued or recorded, and a recorded delivery whose worker dies goes back when its lease
expires (`leases.py`). It is also one round trip where kombu made two.

A script cannot block. When `CLAIM` finds nothing, the worker waits with `BLMOVE key key
RIGHT RIGHT timeout` on its first queue: Redis answers as soon as that list has a message
(moving a list's last element to its own end leaves it as it was: nothing is taken), or
after `timeout`; either way the worker claims again. So an idle worker sees a message on
its first queue at once, and on its other queues (and other priorities) within `timeout`.

A message that is not kombu's JSON (no `properties.delivery_tag`, exchange and routing
key) is returned unrecorded; `QoS.append` records it as kombu does.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.decode import text
from workers.broker.leases import LeaseKeys, Script

# KEYS: unacked, index, lease, clock, then the queue keys in order; ARGV: delivery time
# (the worker's clock, as kombu's visibility timeout reads it), epoch candidate.
# -> nil, or {key, message, tag ('' if unrecorded), epoch}
CLAIM = Script("""
for i = 5, #KEYS do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    local ok, m = pcall(cjson.decode, item)
    local p = ok and type(m) == 'table' and type(m.properties) == 'table' and m.properties
    local info = p and type(p.delivery_info) == 'table' and p.delivery_info
    local tag = p and p.delivery_tag
    if type(tag) ~= 'string' or not info or type(info.exchange) ~= 'string'
        or type(info.routing_key) ~= 'string' then
      return {KEYS[i], item, '', ''}
    end
    local t = redis.call('TIME')
    local stamp = string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000)
    redis.call('HSET', KEYS[1], tag, '[' .. item .. ',' .. cjson.encode(info.exchange) .. ','
               .. cjson.encode(info.routing_key) .. ']')
    redis.call('ZADD', KEYS[2], ARGV[1], tag)
    redis.call('ZADD', KEYS[3], stamp, tag)
    redis.call('HSETNX', KEYS[4], 'epoch', ARGV[2])
    return {KEYS[i], item, tag, redis.call('HGET', KEYS[4], 'epoch')}
  end
end
return nil
""")

#: Deliveries claimed (recorded by `CLAIM`) whose `QoS.append` has not run yet: tag ->
#: data epoch. Filled and emptied by the event loop's thread, around one delivery.
RECORDED: dict[str, str] = {}


@dataclass(frozen=True)
class Claimed:
    key: str       # the list it came from (with the key prefix)
    item: bytes    # the message as kombu's producer wrote it
    tag: str       # '' when unrecorded (not kombu's format)
    epoch: str


def claim_command(keys: LeaseKeys, queue_keys: list[str], delivered_at: float,
                  epoch: str) -> tuple[str | int | float, ...]:
    """The EVALSHA command that claims from `queue_keys` (full names, in order)."""
    names = (keys.unacked, keys.index, keys.lease, keys.clock, *queue_keys)
    return ("EVALSHA", CLAIM.sha, len(names), *names, repr(delivered_at), epoch)


def wait_command(key: str, timeout: float) -> tuple[str | int | float, ...]:
    """The command that waits (at most `timeout` s) for `key` to have a message, taking
    nothing from it."""
    return ("BLMOVE", key, key, "RIGHT", "RIGHT", timeout)


def parse(reply: object) -> Claimed | None:
    if not reply:
        return None
    if not isinstance(reply, list) or len(reply) != 4:
        raise ValueError(f"unexpected reply of the claim script: {reply!r}")
    key, item, tag, epoch = reply
    return Claimed(text(key), bytes(item), text(tag), text(epoch))
