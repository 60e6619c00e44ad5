"""The curation inbox: items other agents push, claimed atomically, handed on or dead-lettered.

Agents `RPUSH {<namespace>}:curation:inbox` JSON objects `{"id", "title", "text"}` (see
docs/tasks.md). A cron run claims a batch in one Lua call: the items move from the inbox
to a claim list of its own (keyed by the run's task id, so a redelivered run finds the
same claim; the claims live in one hash, so the script touches only the keys it is
given), and are removed only when handed on. An item that is not a valid object goes
to `{<namespace>}:curation:dead` with the reason, for an operator to look at; the others are
never lost. A claim left behind by a run that died is put back at the head of the inbox by
the next run, once it is older than `STALE_SECONDS`.

Once a run has handed its items on, `done` records it (for `HANDED_SECONDS`): the same run
delivered again (its worker died before acknowledging it) claims nothing more, rather than
the next items, which it would hand on under the task id it used already.

A run delivered again before `done` (its worker died in between) hands the same items on
again, under the same task id. Each delivery's hand-on carries a token of its own
(`hand_on`), and the curation task runs only for the first token its task id meets
(`first_hand_on`, one SET NX GET): the other message is dropped (counted under
`repeats`), whichever arrives first, so the items are curated once, called directly or
in a provider batch. A hop of the winner keeps its token and goes on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import ValidationError

from routing.decode import text
from routing.keys import keyspace
from tasks.schemas import CurationItem

INBOX = "curation:inbox"
# The inbox of the default namespace (`llmr`), as an agent writes it.
INBOX_EXAMPLE_KEY = "{llmr}:" + INBOX
STALE_SECONDS = 900
# How long a run that handed on is remembered: longer than any redelivery of its message.
HANDED_SECONDS = 86_400

# KEYS: inbox, claims (run -> its items, JSON), claims index (run -> claimed at), handed
# (run -> handed on at). ARGV: run, batch, now, stale before, handed before. Forgets old
# handed runs; a run that handed on already gets -1. Puts stale claims (a run that died)
# back at the inbox head; then returns this run's claim, made once per run.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[5])
if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return -1 end
for _, stale in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])) do
  local raw = redis.call('HGET', KEYS[2], stale)
  if raw then
    local items = cjson.decode(raw)
    for i = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[i]) end
  end
  redis.call('HDEL', KEYS[2], stale)
  redis.call('ZREM', KEYS[3], stale)
end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if raw then return cjson.decode(raw) end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #items == 0 then return {} end
redis.call('LTRIM', KEYS[1], #items, -1)
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(items))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return items
"""


def first_hand_on(task_id: str, token: str) -> bool:
    """`CurationInbox.first_hand_on` in this worker's namespace."""
    from workers.execution.runtime import get_runtime

    rt = get_runtime()
    return CurationInbox(rt.redis, rt.settings.namespace).first_hand_on(task_id, token)


@dataclass(frozen=True)
class Claim:
    """A run's claim: its valid items, how many were dead-lettered, and whether the run
    handed on already (then nothing is claimed)."""

    items: list[dict[str, Any]]
    dead: int = 0
    handed: bool = False


class CurationInbox:
    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.redis = client
        self.key = f"{keyspace(namespace)}:{INBOX}"
        self.dead_key = f"{keyspace(namespace)}:curation:dead"
        self.claims_key = f"{keyspace(namespace)}:curation:claims"
        self.claimed_at_key = f"{keyspace(namespace)}:curation:claimed-at"
        self.handed_key = f"{keyspace(namespace)}:curation:handed"
        self.hand_on_key = f"{keyspace(namespace)}:curation:hand-on"
        self.repeats_key = f"{keyspace(namespace)}:curation:repeats"
        self._claim = client.register_script(_CLAIM)

    def claim(self, run: str, batch: int) -> Claim:
        """This run's claim (made once per run; none once it handed on)."""
        now = time.time()
        raw = self._claim(keys=[self.key, self.claims_key, self.claimed_at_key, self.handed_key],
                          args=[run, batch, now, now - STALE_SECONDS, now - HANDED_SECONDS])
        if raw == -1:
            return Claim([], handed=True)
        items: list[dict[str, Any]] = []
        dead: list[str] = []
        for entry in raw or []:
            value = text(entry)
            try:
                items.append(CurationItem.model_validate_json(value).model_dump())
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"]) or "item"
                dead.append(json.dumps({"item": value[:10_000], "at": time.time(),
                                        "reason": f"{where}: {first['msg']}"}))
        if dead:
            self.redis.rpush(self.dead_key, *dead)
        return Claim(items, len(dead))

    def first_hand_on(self, task_id: str, token: str) -> bool:
        """Whether `token` is the hand-on `task_id` runs for (the first one it met, in one
        SET NX GET); a repeat with another token is counted and refused."""
        key = f"{self.hand_on_key}:{task_id}"
        held = self.redis.set(key, token, nx=True, get=True, ex=HANDED_SECONDS)
        if held is None or text(held) == token:
            return True
        with self.redis.pipeline() as pipe:
            pipe.hincrby(self.repeats_key, task_id, 1)
            pipe.expire(self.repeats_key, HANDED_SECONDS)
            pipe.execute()
        return False

    def repeats(self, task_id: str) -> int:
        """Hand-ons of `task_id` dropped as repeats."""
        return int(self.redis.hget(self.repeats_key, task_id) or 0)

    def done(self, run: str) -> None:
        """The claim was handed on (or was all dead letters): let it go, and remember that
        this run is done."""
        with self.redis.pipeline() as pipe:  # MULTI/EXEC: all or nothing
            pipe.hdel(self.claims_key, run)
            pipe.zrem(self.claimed_at_key, run)
            pipe.zadd(self.handed_key, {run: time.time()})
            pipe.execute()
