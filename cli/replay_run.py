"""Driving a replay from the command line (and the demo): choose the samples, send
`llm.replay` to the candidate's tier queue, wait for the outcomes.

The samples are the key's newest recorded ones (at most `samples`) not replayed on the
candidate yet (their replay call id not settled: a resumed replay sends only the rest;
the worker's claim stops any sample in flight from being asked twice). `budget_usd` caps
this run: samples are taken while the sum of their worst cases (at the price the replay
pays: batch or direct) fits in it; the trial's own daily budget caps it on the worker.
Direct replays send one task per sample (the tier's workers take them in parallel); a
batched one sends one task with every sample (one provider batch).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout

from routing.config.models import RoutingConfig
from routing.keys import keyspace, settled_key
from routing.money import usd, usd_to_micros
from routing.prices.pricing import worst_case_micros
from routing.samples.store import SampleStore

REPLAY_TASK = "llm.replay"
BATCH_CHUNK = 1000


@dataclass
class Plan:
    replay_id: str
    model_key: str
    candidate: str
    batch: bool
    sample_ids: list[str]
    done_before: int  # replayed on this candidate by an earlier run
    left_for_budget: int  # not taken: over --budget-usd
    worst_micros: int


@dataclass
class Outcome:
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    interrupted: bool = False
    batch_ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counted: Counter[str] = Counter()
        for o in self.outcomes:
            kind = o.get("verdict") or ("error" if "error" in o else "skipped")
            counted[str(kind)] += 1
        return dict(counted)

    def cost_micros(self) -> int:
        return sum(int(o.get("cost_micros", 0)) for o in self.outcomes)


def plan(store: SampleStore, config: RoutingConfig, model_key: str, candidate: str, *,
         batch: bool, samples: int | None, budget_usd: Decimal | None) -> Plan:
    ids = store.ids(model_key, samples)
    prefix = keyspace(store.namespace)
    pipe = store.client.pipeline(transaction=False)
    for sample_id in ids:
        pipe.exists(settled_key(prefix, f"replay:{sample_id}:{candidate}"))
    done = pipe.execute() if ids else []
    pending = [i for i, d in zip(ids, done, strict=True) if not d]
    spec = config.model_keys[model_key]
    model = config.models[candidate]
    price = config.price_of(candidate)
    cap = None if budget_usd is None else usd_to_micros(budget_usd)
    taken: list[str] = []
    worst_total = 0
    for sample_id in pending:
        sample = store.load(model_key, sample_id)
        if sample is None:
            continue
        usage = sample.get("usage") or {}
        tokens = sum(int(usage.get(f, 0)) for f in
                     ("input_tokens", "cache_read_tokens", "cache_write_tokens"))
        max_tokens = min(int(sample["call"].get("max_tokens") or spec.max_tokens),
                         model.max_output_tokens)
        worst = worst_case_micros(tokens, max_tokens, price, batch=batch)
        if cap is not None and worst_total + worst > cap:
            break
        worst_total += worst
        taken.append(sample_id)
    return Plan(uuid.uuid4().hex[:12], model_key, candidate, batch, taken,
                len(ids) - len(pending), len(pending) - len(taken), worst_total)


def send_and_wait(app: Celery, config: RoutingConfig, p: Plan, *, timeout: float,
                  poll_seconds: float,
                  each: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    """Send the plan's tasks and collect their outcomes (`each`: called per outcome)."""
    queue = config.tiers[config.models[p.candidate].tier].queue
    if p.batch:
        groups = [p.sample_ids[i:i + BATCH_CHUNK]
                  for i in range(0, len(p.sample_ids), BATCH_CHUNK)]
    else:
        groups = [[i] for i in p.sample_ids]
    results = [
        app.send_task(REPLAY_TASK, queue=queue, task_id=f"replay:{p.replay_id}:{n}", kwargs={
            "replay_id": f"{p.replay_id}-{n}", "model_key": p.model_key,
            "candidate": p.candidate, "sample_ids": group, "batch": p.batch,
            "poll_seconds": poll_seconds})
        for n, group in enumerate(groups)
    ]
    out = Outcome()
    for result in results:
        try:
            summary = result.get(timeout=timeout, disable_sync_subtasks=False)
        except CeleryTimeout:
            out.interrupted = True
            break
        for outcome in summary.get("outcomes", []):
            out.outcomes.append(outcome)
            if each is not None:
                each(outcome)
        for why in ("stopped", "refused"):
            if summary.get(why):
                out.stopped.append(str(summary[why]))
        if summary.get("batch_id"):
            out.batch_ids.append(str(summary["batch_id"]))
    return out


def summary_document(p: Plan, out: Outcome) -> dict[str, Any]:
    return {"model_key": p.model_key, "candidate": p.candidate, "batch": p.batch,
            "sent": len(p.sample_ids), "done_before": p.done_before,
            "left_for_budget": p.left_for_budget, "counts": out.counts(),
            "cost_usd": usd(out.cost_micros()), "batch_ids": out.batch_ids,
            "stopped": out.stopped, "interrupted": out.interrupted}
