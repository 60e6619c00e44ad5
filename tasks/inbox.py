"""The curation inbox: items other agents push, claimed atomically, handed on or dead-lettered.

Agents `RPUSH <namespace>:curation:inbox` JSON objects `{"id", "title", "text"}` (see
docs/tasks.md). A cron run claims a batch in one Lua call: the items move from the inbox
to a claim list of its own (keyed by the run's task id, so a redelivered run finds the
same claim), and are removed only when handed on. An item that is not a valid object goes
to `<namespace>:curation:dead` with the reason, for an operator to look at; the others are
never lost. A claim left behind by a run that died is put back at the head of the inbox by
the next run, once it is older than `STALE_SECONDS`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from pydantic import ValidationError

from routing.decode import text
from routing.keys import keyspace
from tasks.schemas import CurationItem

INBOX = "curation:inbox"
STALE_SECONDS = 900

# KEYS: inbox, claim list, claims index. ARGV: batch, now. -> the claimed items
_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  for _ = 1, tonumber(ARGV[1]) do
    if not redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') then break end
  end
end
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], KEYS[2])
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

# KEYS: inbox, claims index. ARGV: older than. Puts stale claims back at the inbox head.
_RECOVER = """
local back = 0
for _, claim in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  while true do
    local item = redis.call('RPOP', claim)
    if not item then break end
    redis.call('LPUSH', KEYS[1], item)
    back = back + 1
  end
  redis.call('ZREM', KEYS[2], claim)
end
return back
"""


class CurationInbox:
    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.redis = client
        self.key = f"{keyspace(namespace)}:{INBOX}"
        self.dead_key = f"{keyspace(namespace)}:curation:dead"
        self.claims_key = f"{keyspace(namespace)}:curation:claims"
        self._claim = client.register_script(_CLAIM)
        self._recover = client.register_script(_RECOVER)

    def claim_key(self, run: str) -> str:
        return f"{self.key}:claimed:{run}"

    def claim(self, run: str, batch: int) -> tuple[list[dict[str, Any]], int]:
        """(valid items, dead-lettered count) of this run's claim (made once per run)."""
        self._recover(keys=[self.key, self.claims_key], args=[time.time() - STALE_SECONDS])
        raw = self._claim(keys=[self.key, self.claim_key(run), self.claims_key],
                          args=[batch, time.time()])
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
        return items, len(dead)

    def done(self, run: str) -> None:
        """The claim was handed on (or was all dead letters): let it go."""
        with self.redis.pipeline() as pipe:
            pipe.delete(self.claim_key(run))
            pipe.zrem(self.claims_key, self.claim_key(run))
            pipe.execute()
