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

    def done(self, run: str) -> None:
        """The claim was handed on (or was all dead letters): let it go, and remember that
        this run is done."""
        with self.redis.pipeline() as pipe:  # MULTI/EXEC: all or nothing
            pipe.hdel(self.claims_key, run)
            pipe.zrem(self.claimed_at_key, run)
            pipe.zadd(self.handed_key, {run: time.time()})
            pipe.execute()
