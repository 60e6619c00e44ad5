"""Provider batches in Redis: the calls waiting for a batch, the batches at a provider, and
each batched task's outcome. All of it survives any worker (nothing is in memory).

Life of a batch (the scripts are `routing.batches.lua`):
- `append`: a worker stores a task's call (its request, its message to re-publish) in the
  open batch of its model and records the task (`record`); only then is the task's
  message acknowledged. A redelivered message finds the record and stores nothing.
- the call that fills the open batch (`max_items`, or its size) closes it into a batch of
  its own id, to be submitted (`submitting`); `close`: when the open batch's oldest call
  waited `max_wait_seconds`, one caller closes it, claimed by that caller;
- `update` records what the provider said (the uploaded file, the provider's batch id:
  `submitted`) and, before each create, the intent (`creating`: when the first create
  was sent, `creates`: how many were): a create whose answer was lost is looked up at
  the provider before any other; `own` notes which record holds a provider batch, so
  that two records never adopt the same one; `claim` lets one caller at a time resume a
  submission or poll a batch (a claim lapses, so a caller that died holds nothing for
  long);
- `save_outcome` writes each task's answer (once), `mark_sent` notes that its task was
  re-published for delivery, `finish` ends the batch (`done` or `failed`).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, fields, replace
from typing import Any

import redis

from routing.batches.lua import APPEND, CLAIM, CLOSE, FINISH, OUTCOME, UPDATE
from routing.decode import text
from routing.keys import keyspace

# Records and finished batches are kept this long (a batched call lives at most a day of
# waiting plus the provider's day).
KEEP_SECONDS = 3 * 86400
# A batch is submitted once its requests reach this size, whatever their count: half the
# smaller provider limit (OpenAI takes a 200 MB file, Anthropic 256 MB).
MAX_BATCH_BYTES = 100 * 1024 * 1024
# Both providers' rule for an item's id; other task ids are hashed into one.
_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
OPEN, SUBMITTING, SUBMITTED, DONE, FAILED = "open", "submitting", "submitted", "done", "failed"


def new_batch_id() -> str:
    return f"b-{uuid.uuid4().hex[:16]}"


def custom_id(task_id: str) -> str:
    """The id of a task's request within a batch: the task id when the providers take it,
    else a digest of it."""
    if _CUSTOM_ID.fullmatch(task_id):
        return task_id
    return "t" + hashlib.sha256(task_id.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Appended:
    stored: bool  # False: the task was in a batch already (a redelivered message)
    count: int  # calls in the open batch now
    closed: str | None = None  # the batch this call filled and closed (to submit now)


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A batched task: which item it is, what was reserved, and (once the provider
    answered) its outcome."""

    custom_id: str
    call: int  # the task's calls before this one (its route state's `calls`)
    call_id: str  # the budget reservation's call id
    model: str
    reserved_micros: int
    price: dict[str, Any]  # the model's price at enqueue time (the call is priced by it)
    outcome: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    model: str
    provider: str
    provider_model: str
    state: str
    count: int = 0
    created: int = 0  # unix ms, server clock
    closed: int = 0
    submitted: int = 0
    attempts: int = 0  # failed submissions
    prepared: str = ""  # what a submission prepared first (OpenAI: the uploaded file's id)
    provider_batch: str = ""  # the provider's batch id
    error: str = ""
    creating: int = 0  # unix ms, server clock: when the first create was sent (0: none)
    creates: int = 0  # creates sent
    duplicates: str = ""  # provider batches of this submission that were canceled
    checked: int = 0  # 1: looked for duplicates at the first poll (after 2+ creates)
    canceled: int = 0  # unix ms: when `llm-router batches cancel` canceled it

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> Batch:
        data = {text(k): text(v) for k, v in raw.items()}
        out: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                out[f.name] = int(float(data[f.name])) if f.type == "int" else data[f.name]
        return cls(**out)


class BatchStore:
    """The batches of one namespace (any redis-py compatible client)."""

    def __init__(self, client: redis.Redis, namespace: str, *,
                 max_bytes: int = MAX_BATCH_BYTES) -> None:
        self.client = client
        self.namespace = namespace
        self.prefix = f"{keyspace(namespace)}:batch"
        self.max_bytes = max_bytes
        self.due_key = f"{self.prefix}:due"
        self.active_key = f"{self.prefix}:active"
        self.owners_key = f"{self.prefix}:owners"
        self._append = client.register_script(APPEND)
        self._close = client.register_script(CLOSE)
        self._claim = client.register_script(CLAIM)
        self._update = client.register_script(UPDATE)
        self._finish = client.register_script(FINISH)
        self._outcome = client.register_script(OUTCOME)

    def __repr__(self) -> str:
        return f"BatchStore(namespace={self.namespace!r})"

    # -- keys -------------------------------------------------------------------------------
    def _open(self, model: str) -> list[str]:
        return [f"{self.prefix}:open:{model}", f"{self.prefix}:open:{model}:items"]

    def _batch(self, batch_id: str) -> list[str]:
        base = f"{self.prefix}:{batch_id}"
        return [base, f"{base}:items", f"{base}:sent"]

    def task_key(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    # -- a worker: append a call ------------------------------------------------------------
    def append(self, *, model: str, provider: str, provider_model: str, task_id: str,
               item: dict[str, Any], record: TaskRecord, max_items: int,
               max_wait_seconds: float) -> Appended:
        """Store `item` (JSON-able) in `model`'s open batch and `record` for the task, at
        once; nothing when the task is in a batch already."""
        batch_id = new_batch_id()
        reply = self._append(
            keys=[*self._open(model), self.due_key, self.task_key(task_id), self.active_key,
                  *self._batch(batch_id)[:2]],
            args=[model, provider, provider_model, record.custom_id,
                  json.dumps(item, separators=(",", ":")), _record_json(record), max_items,
                  int(max_wait_seconds * 1000), self.max_bytes, KEEP_SECONDS, batch_id],
        )
        return Appended(bool(int(reply[0])), int(reply[1]),
                        batch_id if int(reply[2]) else None)

    def record(self, task_id: str) -> TaskRecord | None:
        """The task's batch record (one round trip), or None when it was never batched."""
        raw = self.client.hgetall(self.task_key(task_id))
        data = {text(k): text(v) for k, v in raw.items()}
        if "rec" not in data:
            return None
        record = record_from_json(json.loads(data["rec"]))
        if "outcome" not in data:
            return record
        return replace(record, outcome=json.loads(data["outcome"]))

    # -- a sweeper: find, close, claim, update, finish ------------------------------------
    def due_models(self, *, everything: bool = False) -> list[str]:
        """Models whose open batch is due by the server's clock (`everything`: any open)."""
        if everything:
            members = self.client.zrange(self.due_key, 0, -1)
        else:
            members = self.client.zrangebyscore(self.due_key, "-inf", self.now_ms())
        return [text(m) for m in members]

    def now_ms(self) -> int:
        """The Redis server's clock (the one that stamps batches), in unix ms."""
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def active(self) -> dict[str, str]:
        """Batch id -> model of every closed batch that is not over."""
        return {text(k): text(v) for k, v in self.client.hgetall(self.active_key).items()}

    def close(self, model: str, token: str, claim_seconds: float, *,
              force: bool = False) -> Batch | None:
        """Close `model`'s open batch if it is due (or `force`), claimed by `token`."""
        batch_id = new_batch_id()
        keys = [*self._open(model), self.due_key, self.active_key, *self._batch(batch_id)[:2]]
        closed = self._close(keys=keys, args=[model, batch_id, token,
                                              int(claim_seconds * 1000), "1" if force else "0"])
        return self.get(batch_id) if int(closed) else None

    def get(self, batch_id: str) -> Batch | None:
        raw = self.client.hgetall(self._batch(batch_id)[0])
        return Batch.from_hash(raw) if raw else None

    def claim(self, batch_id: str, token: str, claim_seconds: float,
              states: tuple[str, ...]) -> Batch | None:
        """The batch, claimed by `token`, if it is in one of `states` and no one else holds
        a live claim on it; else None."""
        ok = self._claim(keys=[self._batch(batch_id)[0]],
                         args=[token, int(claim_seconds * 1000), " ".join(states)])
        return self.get(batch_id) if int(ok) else None

    def update(self, batch_id: str, token: str, *, release: bool = False,
               **values: str | int) -> bool:
        """Write `values` (a value "NOW": the server's time) while `token` holds the claim;
        `release` lets the claim go. False: the claim was lost (write nothing more)."""
        args: list[str | int] = [token, "1" if release else "0"]
        for name, value in values.items():
            args += [name, value]
        return bool(int(self._update(keys=[self._batch(batch_id)[0]], args=args)))

    def own(self, provider_batch: str, batch_id: str) -> bool:
        """Note that `batch_id` holds `provider_batch`; False when another record does."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self.owners_key, provider_batch, batch_id)
            pipe.hget(self.owners_key, provider_batch)
            pipe.expire(self.owners_key, KEEP_SECONDS)
            _, owner, _ = pipe.execute()
        return text(owner) == batch_id

    def mark_canceled(self, batch_id: str) -> None:
        """Note that an operator canceled the batch at its provider (the sweep delivers it
        as the provider reports it: its calls unanswered, by their key's `on_failure`)."""
        self.client.hset(self._batch(batch_id)[0], "canceled", self.now_ms())

    def owners(self) -> dict[str, str]:
        """Provider batch id -> the record holding it."""
        return {text(k): text(v) for k, v in self.client.hgetall(self.owners_key).items()}

    def tracked(self) -> list[Batch]:
        """Every closed batch record still kept (active or over), oldest first."""
        start = len(self.prefix) + 1
        ids = [text(k)[start:] for k in self.client.scan_iter(
            match=f"{self.prefix}:b-*", count=1000) if ":" not in text(k)[start:]]
        with self.client.pipeline(transaction=False) as pipe:
            for batch_id in ids:
                pipe.hgetall(self._batch(batch_id)[0])
            found = [Batch.from_hash(raw) for raw in pipe.execute() if raw]
        return sorted(found, key=lambda b: (b.closed or b.created, b.id))

    def finish(self, batch_id: str, token: str, state: str) -> bool:
        keys = [*self._batch(batch_id), self.active_key]
        return bool(int(self._finish(keys=keys, args=[token, batch_id, state, KEEP_SECONDS])))

    def items(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """Custom id -> item of a closed batch."""
        raw = self.client.hgetall(self._batch(batch_id)[1])
        return {text(k): json.loads(text(v)) for k, v in raw.items()}

    def save_outcome(self, task_id: str, record: TaskRecord, outcome: dict[str, Any]) -> bool:
        """Write a task's outcome, once (False: it was there already)."""
        return bool(int(self._outcome(
            keys=[self.task_key(task_id)],
            args=[_record_json(record), json.dumps(outcome, separators=(",", ":")),
                  KEEP_SECONDS])))

    def sent(self, batch_id: str) -> set[str]:
        return {text(m) for m in self.client.smembers(self._batch(batch_id)[2])}

    def mark_sent(self, batch_id: str, custom_ids: list[str]) -> None:
        if custom_ids:
            self.client.sadd(self._batch(batch_id)[2], *custom_ids)

    def summary(self) -> dict[str, tuple[int, int]]:
        """State -> (batches, calls in them): open batches and the active closed ones."""
        models = self.due_models(everything=True)
        active = list(self.active())
        with self.client.pipeline(transaction=False) as pipe:
            for model in models:
                pipe.hget(self._open(model)[0], "count")
            for batch_id in active:
                pipe.hmget(self._batch(batch_id)[0], "state", "count")
            replies = pipe.execute()
        rows = [(OPEN if count is not None else None, count) for count in replies[:len(models)]]
        rows += [tuple(reply) for reply in replies[len(models):]]
        out: dict[str, tuple[int, int]] = {}
        for state, count in rows:
            if state is None:  # gone since it was listed
                continue
            name = text(state)
            batches, calls = out.get(name, (0, 0))
            out[name] = (batches + 1, calls + int(count or 0))
        return out


def _record_json(record: TaskRecord) -> str:
    data = {f.name: getattr(record, f.name) for f in fields(record) if f.name != "outcome"}
    return json.dumps(data, separators=(",", ":"))


def record_from_json(data: dict[str, Any]) -> TaskRecord:
    return TaskRecord(data["custom_id"], int(data["call"]), data["call_id"], data["model"],
                      int(data["reserved_micros"]), data["price"])
