"""The Beat crons. Each gathers its input, then hands the LLM work to a typed task (which
the router sends to its tier), or does plain bookkeeping with no model at all.

`model_key` on a cron names the model key of the work it hands on, so that the schedule
test can check that every cron's work routes to an existing queue.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task

from routing.money import usd
from tasks.inbox import INBOX, CurationInbox
from workers.app import app
from workers.execution.runtime import get_runtime
from workers.metrics.broker_depth import open_depths, tier_depths

log = logging.getLogger(__name__)

CURATION_INBOX = INBOX
CURATION_BATCH = 50


class Cron(Task):  # type: ignore[type-arg]
    model_key: str | None = None
    acks_late = True


def observe() -> list[str]:
    """What the monitoring cron looks at: this system itself (queues, budgets, deferrals)."""
    rt = get_runtime()
    cfg = rt.live.get()
    lines = [f"routing config version {cfg.version}"]
    broker = open_depths(rt.settings)  # None: the demo's memory://
    if broker is not None:
        try:
            depths = tier_depths(broker, {n: t.queue for n, t in cfg.tiers.items()})
        finally:
            broker.close()
        lines += [f"queue {cfg.tiers[t].queue}: {n} waiting" for t, n in sorted(depths.items())]
    lines.append(f"deferred tasks waiting for a budget window: {rt.deferred.count()}")
    batches = rt.batches.summary()
    if batches:
        lines.append("provider batches: " + ", ".join(
            f"{n} {state} ({calls} calls)" for state, (n, calls) in sorted(batches.items())))
    for status in rt.budgets.status(cfg):
        limit = "no limit" if status.limit_micros is None else f"${usd(status.limit_micros):.2f}"
        lines.append(
            f"budget {status.budget}: spent ${usd(status.spent_micros):.4f} of {limit}, "
            f"reserved ${usd(status.reserved_micros):.4f}"
        )
    return lines


@app.task(base=Cron, bind=True, name="cron.monitoring", model_key="monitoring")
def monitoring(self: Cron) -> dict[str, Any]:
    """Every 30 minutes: observe the system and ask the monitoring model for a status."""
    result = app.send_task(
        "tasks.monitoring", kwargs={"source": "llm-router", "observations": observe()}
    )
    return {"task_id": result.id}


@app.task(base=Cron, bind=True, name="cron.content_curation", model_key="content_curation")
def content_curation(self: Cron, topic: str = "multi-agent systems") -> dict[str, Any]:
    """Every 6 hours: curate what other agents pushed to the inbox (nothing to do, no call).

    Items are JSON objects `{"id", "title", "text"}` pushed with
    `RPUSH {<namespace>}:curation:inbox`, claimed atomically (`tasks.inbox`); a malformed
    one goes to `{<namespace>}:curation:dead` with the reason, never taking others with it.
    """
    rt = get_runtime()
    inbox = CurationInbox(rt.redis, rt.settings.namespace)
    run = str(self.request.id)
    handed_id = f"{run}:curation"
    claim = inbox.claim(run, CURATION_BATCH)
    if claim.handed:  # this run was delivered again after it handed on: nothing more
        return {"skipped": "this run handed its items on already", "task_id": handed_id}
    if not claim.items:
        inbox.done(run)
        reason = "the curation inbox is empty" if not claim.dead else \
            f"no valid item ({claim.dead} sent to the dead-letter list)"
        return {"skipped": reason, "dead_lettered": claim.dead}
    # Items are handed on at least once. A run delivered again before `done` recorded its
    # hand-on (its worker died in between) sends the same items again under the same task
    # id: Celery runs both messages (it does not deduplicate by id), so each delivery's
    # hand-on has a token of its own and the task runs for the first one only
    # (`CurationInbox.first_hand_on`): curated once, called directly or batched. A run
    # delivered again after `done` hands on nothing (`claim.handed`).
    result = app.send_task("tasks.content_curation",
                           kwargs={"topic": topic, "items": claim.items,
                                   "hand_on": uuid.uuid4().hex}, task_id=handed_id)
    inbox.done(run)
    return {"task_id": result.id, "items": len(claim.items), "dead_lettered": claim.dead}


@app.task(base=Cron, bind=True, name="cron.cost_report")
def cost_report(self: Cron, day: str | None = None) -> dict[str, Any]:
    """Daily: store yesterday's cost report in Redis and log a one-line summary."""
    from routing.reports.report import store_daily_report

    rt = get_runtime()
    when = day or (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    summary = store_daily_report(rt.ledger, rt.live.get(), day=when)
    log.info("%s", summary)
    return {"day": when, "summary": summary}


@app.task(base=Cron, bind=True, name="cron.routing_review")
def routing_review(self: Cron, days: int = 30) -> dict[str, Any]:
    """Monthly: the routing review (`llm-router review`), stored, its summary logged."""
    from routing.evidence.review import store_review

    rt = get_runtime()
    review = store_review(rt.ledger, rt.live.get(), days)
    log.info("routing review: %s", review["summary"])
    return {"summary": review["summary"], "from": review["from"], "to": review["to"],
            "recommendations": {k: e["recommendation"]
                                for k, e in review["model_keys"].items()
                                if e["recommendation"]["action"] != "keep"}}


@app.task(base=Cron, bind=True, name="cron.reconcile")
def reconcile(self: Cron) -> dict[str, Any]:
    """Daily: reconcile the ledger with each provider whose admin key is set, for the
    newest day past the reporting delay; store each result (the cost report and the
    `llm_router_reconcile_*` metrics show the last one). No admin key: nothing to do."""
    from workers.providers.usage_reports.errors import ReportError
    from workers.providers.usage_reports.fetch import PROVIDERS
    from workers.providers.usage_reports.reconciling import (
        newest_final_day,
        reconcile_provider,
    )

    rt = get_runtime()
    wanted = [p for p in PROVIDERS if getattr(rt.settings, f"{p}_admin_key") is not None]
    if not wanted:
        return {"skipped": "no admin key set (ANTHROPIC_ADMIN_KEY, OPENAI_ADMIN_KEY)"}
    day = newest_final_day(rt.settings).isoformat()
    out: dict[str, Any] = {"day": day}
    for provider in wanted:
        try:
            result = reconcile_provider(rt.settings, rt.ledger, rt.live.get(), provider, [day])
        except ReportError as exc:  # its message holds no key
            log.warning("reconcile %s %s: %s", provider, day, exc)
            out[provider] = {"error": str(exc)}
            continue
        log.info("reconcile %s %s: %s", provider, day,
                 "within tolerance" if result.ok else f"{len(result.gaps)} difference(s)")
        out[provider] = {"ok": result.ok, "gaps": len(result.gaps)}
    return out
