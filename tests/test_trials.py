"""Shadow trials on real workers: sampled after success, scored against production, paid
from their own budget, never part of the caller's result or of production spend."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from routing.reports.report import build_report
from routing.spend.aggregates import TrialRow
from tasks.trials import sample_trials
from tests.support.celery import Session
from tests.support.cli import as_json, run
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.runtime import get_runtime

HAIKU, KIMI = "claude-haiku-4-5", "kimi-for-coding"
LABELS = ["spam", "ham", "unsure"]


def configure(session: Session, window: int = 86400, **trial: Any) -> None:
    """A trial of Kimi on classification (every call sampled). `window`: a budget window
    length of the test's own, so that its budget counters start at zero."""
    def edit(doc: dict[str, Any]) -> str:
        spec = doc["model_keys"]["classification"]
        spec["trials"] = [{"candidate": KIMI, "sample": 1.0, "daily_budget_usd": "1", **trial}]
        spec.update(min_samples=20, min_agreement=0.8)
        doc["budgets"]["window_seconds"] = window
        return "trial"

    cfg = session.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)


def user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            content = message["content"]
            return content if isinstance(content, str) else "".join(
                part.get("text", "") for part in content)
    return ""


def label_reply(choose: Callable[[str], str | None]) -> Callable[[dict[str, Any]], str]:
    """A classification answer whose label `choose` picks from the prompt (None: junk)."""
    def reply(body: dict[str, Any]) -> str:
        label = choose(user_text(body))
        return "no json here" if label is None else json.dumps(
            {"label": label, "confidence": 0.9})
    return reply


def _today_rows(key: str = "classification") -> TrialRow:
    today = datetime.now(UTC).date().isoformat()
    rows = [r for r in get_runtime().ledger.trial_aggregates(today)
            if (r.model_key, r.model) == (key, KIMI)]
    return rows[0] if rows else TrialRow(key, KIMI, "kimi")


@pytest.fixture(autouse=True)
def baseline(celery: Session) -> None:
    """The session's ledger is shared by the tests of this module: each one counts what
    it adds to today's trial rows."""
    global _BASE
    _BASE = {key: _today_rows(key)
             for key in ("classification", "lookup", "monitoring", "data_extraction")}


_BASE: dict[str, TrialRow] = {}


def trial_row(key: str = "classification") -> TrialRow | None:
    """Today's trial row of `key` on the candidate, minus what earlier tests added."""
    now, base = _today_rows(key), _BASE.get(key, TrialRow(key, KIMI, "kimi"))
    delta = TrialRow(key, KIMI, now.tier)
    for name in ("calls", "samples", "agree", "disagree", "candidate_invalid", "unjudged",
                 "invalid", "micros", "judge_calls", "prod_latency_ms", "cand_micros",
                 "prod_micros", "skipped_budget", "replayed"):
        setattr(delta, name, getattr(now, name) - getattr(base, name))
    return delta if any((delta.calls, delta.samples, delta.unjudged, delta.skipped_budget,
                         delta.replayed)) else None


def scored(n: int, key: str = "classification") -> TrialRow:
    def check() -> TrialRow | None:
        row = trial_row(key)
        return row if row is not None and row.samples >= n else None

    return wait_until(check, timeout=20, what=f"{n} scored trial samples")


def classify(session: Session, text: str, **options: Any) -> Any:
    return session.app.tasks["tasks.classification"].apply_async(
        kwargs={"text": text, "labels": LABELS}, **options)


def test_a_shadow_never_touches_the_callers_result_or_latency(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a result without any trial
    llm_server.set_reply(label_reply(lambda _: "spam"))
    before = classify(worker, "WIN A PRIZE").get(timeout=30)
    # When the key has a trial whose candidate is slow (3 s)
    configure(worker)
    llm_server.stall(3, times=1, model=KIMI)
    during = classify(worker, "WIN A PRIZE").get(timeout=30)
    # Then the caller had its answer while the shadow was still waiting on the candidate
    (shadow,) = wait_until(lambda: llm_server.requests_for(KIMI), timeout=10,
                           what="the shadow's call of the candidate")
    assert shadow.stalled and trial_row() is None
    # ...the same answer, from the same model, as without the trial
    for field in ("model", "model_key", "tier", "queue", "output", "text", "attempts"):
        assert during[field] == before[field], field
    assert "trial" not in json.dumps(during)
    # and the shadow was scored afterwards, on the candidate's own queue
    row = scored(1)
    assert (row.agree, row.samples, row.tier) == (1, 1, "kimi")


def test_scores_agree_disagree_and_candidate_invalid(
    worker: Session, llm_server: LLMServer
) -> None:
    configure(worker)
    llm_server.set_reply(label_reply(lambda _: "spam"), model=HAIKU)
    llm_server.set_reply(label_reply(
        lambda text: "spam" if "one" in text else "ham" if "two" in text else None), model=KIMI)
    for text in ("one", "two", "three"):
        classify(worker, text).get(timeout=30)
    row = scored(3)
    assert (row.agree, row.disagree, row.candidate_invalid) == (1, 1, 1)
    assert row.calls == 3 and row.invalid == 1 and row.micros > 0
    assert row.prod_latency_ms >= 0 and row.cand_micros > 0 and row.prod_micros > 0
    calls = get_runtime().ledger.calls(datetime.now(UTC).date(), trial=True)[-3:]
    assert {c["model"] for c in calls} == {KIMI} and all(c["trial"] for c in calls)


def test_a_redelivered_task_samples_once(worker: Session, llm_server: LLMServer) -> None:
    configure(worker)
    llm_server.set_reply(label_reply(lambda _: "spam"))
    task_id = f"redelivered-{uuid.uuid4().hex}"
    first = classify(worker, "x", task_id=task_id).get(timeout=30)
    scored(1)
    # the same task id runs again (a redelivery): sampled again, the same way, and seen
    # as a replay: no second shadow
    classify(worker, "x", task_id=task_id)
    wait_until(lambda: (trial_row() or TrialRow("", "", "")).replayed == 1, timeout=20,
               what="the second run's sampling")
    assert sample_trials("tasks.classification", task_id,
                         {"text": "x", "labels": LABELS}, first) == []
    assert trial_row().replayed == 2  # type: ignore[union-attr]
    assert len(llm_server.requests_for(KIMI)) == 1
    assert trial_row() is not None and trial_row().samples == 1  # type: ignore[union-attr]


def test_only_answers_of_the_keys_own_model_are_sampled(
    worker: Session, llm_server: LLMServer
) -> None:
    configure(worker)
    # Haiku's answer is not valid output: the task escalates to orchestration's model
    llm_server.set_reply(label_reply(lambda _: None), model=HAIKU)
    llm_server.set_reply(label_reply(lambda _: "spam"))
    kwargs = {"text": "escalated", "labels": LABELS}
    escalated = worker.app.tasks["tasks.classification"].apply_async(kwargs=kwargs).get(
        timeout=30)
    assert escalated["model"] != HAIKU and escalated["escalated_from"] == [HAIKU]
    # Then its answer is no production answer of the key's model: no shadow of it
    assert sample_trials("tasks.classification", escalated["task_id"], kwargs,
                         escalated) == []
    # nor of an answer from a rule's target or a fallback (any model but the key's)
    for model in ("gemini-2.5-pro", KIMI):
        assert sample_trials("tasks.classification", f"other-{uuid.uuid4().hex}", kwargs,
                             {**escalated, "model": model}) == []
    # while the same answer from the key's model is
    assert sample_trials("tasks.classification", f"own-{uuid.uuid4().hex}", kwargs,
                         {**escalated, "model": HAIKU}) == [KIMI]
    row = scored(1)  # that shadow, the only one
    assert (row.samples, row.calls) == (1, 1) and len(llm_server.requests_for(KIMI)) == 1


def trial_job(task_id: str, text: str, result: dict[str, Any]) -> dict[str, Any]:
    """The `llm.trial` message that sampling `result` sent (see `tasks.trials`)."""
    return {"task_id": task_id, "task_name": "tasks.classification",
            "model_key": "classification", "candidate": KIMI,
            "call_id": f"trial:{task_id}:{KIMI}", "kwargs": {"text": text, "labels": LABELS},
            "output": result["output"], "text": result["text"],
            "latency_ms": float(result.get("latency_s", 0.0)) * 1000,
            "cost_micros": int(result["cost_micros"])}


def test_a_redelivered_trial_is_paid_and_scored_once(
    worker: Session, llm_server: LLMServer
) -> None:
    configure(worker)
    llm_server.set_reply(label_reply(lambda _: "spam"))
    task_id = f"trial-twice-{uuid.uuid4().hex}"
    result = classify(worker, "x", task_id=task_id).get(timeout=30)
    scored(1)
    rt = get_runtime()
    budget = f"trial:classification:{KIMI}"
    spent = {s.budget: s for s in rt.budgets.status(rt.live.get())}[budget].spent_micros
    # When the trial's message comes again, same task id (its worker died after the call,
    # or the broker delivered it twice)
    worker.app.send_task("llm.trial", kwargs=trial_job(task_id, "x", result),
                         queue="llm.kimi", task_id=f"{task_id}:trial:{KIMI}")
    wait_until(lambda: (trial_row() or TrialRow("", "", "")).replayed == 1, timeout=20,
               what="the re-delivery seen as a replay")
    # Then the candidate was called once, paid once, and its score counted once
    assert len(llm_server.requests_for(KIMI)) == 1
    row = trial_row()
    assert row is not None and (row.samples, row.agree, row.calls) == (1, 1, 1)
    status = {s.budget: s for s in rt.budgets.status(rt.live.get())}
    assert status[budget].spent_micros == spent


def test_two_deliveries_of_a_trial_at_once_call_and_score_it_once(
    worker: Session, llm_server: LLMServer
) -> None:
    configure(worker)
    llm_server.set_reply(label_reply(lambda _: "spam"))
    task_id = f"trial-race-{uuid.uuid4().hex}"
    # Given a production answer whose sample is not taken (the test sends the trials)
    result = classify(worker, "y").get(timeout=30)
    scored(1)
    base = trial_row()
    assert base is not None
    # When two deliveries of one trial run at once on the worker's two processes (the
    # candidate takes a second to answer: the second delivery starts before the first
    # settled)
    llm_server.stall(1.0, times=1, model=KIMI)
    for _ in range(2):
        worker.app.send_task("llm.trial", kwargs=trial_job(task_id, "y", result),
                             queue="llm.kimi", task_id=f"{task_id}:trial:{KIMI}")

    def settled() -> TrialRow | None:
        row = trial_row()
        return row if row is not None and row.replayed - base.replayed == 1 and (
            row.samples > base.samples) else None

    row = wait_until(settled, timeout=20, what="both deliveries settled")
    # Then one called the candidate (the other found the call claimed): one call, one
    # recorded, one score, one replay
    assert len(llm_server.requests_for(KIMI)) == 2  # the production sample's, and this one
    assert (row.samples - base.samples, row.calls - base.calls) == (1, 1)


def test_a_fault_after_the_candidates_call_cannot_leave_a_sample_paid_and_unscored(
    worker: Session, llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from routing.spend.ledger import Ledger
    from tasks.trials import SPECS
    from workers.execution.trial import TrialJob, run_trial

    configure(worker)
    llm_server.set_reply(label_reply(lambda _: "spam"))
    result = classify(worker, "z").get(timeout=30)
    scored(1)
    base = trial_row()
    assert base is not None
    task_id = f"trial-fault-{uuid.uuid4().hex}"
    job = trial_job(task_id, "z", result)
    job.pop("task_name")
    # Given Redis drops every write but a replay's count (a fault after the settle: the
    # worker loses Redis, or dies, between paying the sample and scoring it)
    real_count = Ledger.count

    def faulty(self: Ledger, row: tuple[str, str, str], increments: dict[str, int],
               **kw: Any) -> str:
        if set(increments) - {"replayed"}:
            raise RedisConnectionError("Redis went away")
        return real_count(self, row, increments, **kw)

    monkeypatch.setattr(Ledger, "count", faulty)
    # When the trial runs, and (its first delivery failed or not) is delivered again
    spec = SPECS["tasks.classification"]
    rt = get_runtime()
    with contextlib.suppress(RedisConnectionError):  # the first delivery's fault, if any
        run_trial(spec, TrialJob(**job), rt)
    again = run_trial(spec, TrialJob(**job), rt)
    # Then the sample was paid, scored and replayed exactly once
    assert again["skipped"].startswith("scored already")
    row = trial_row()
    assert row is not None
    assert (row.calls - base.calls, row.samples - base.samples, row.agree - base.agree,
            row.replayed - base.replayed) == (1, 1, 1, 1)


def test_trial_spend_is_apart_from_production_and_capped_by_its_budget(
    worker: Session, llm_server: LLMServer
) -> None:
    # A trial budget with room for two shadows at a time: each reserves its worst case
    # (classification's 256 output tokens at Kimi's $1.50/MTok, plus the input: ~425
    # micro-dollars) until it settles, and the candidate takes a second to answer
    configure(worker, window=86381, daily_budget_usd="0.0009")
    llm_server.set_reply(label_reply(lambda _: "spam"))
    llm_server.stall(1.0, times=12, model=KIMI)
    rt = get_runtime()
    pending = [classify(worker, f"message {i}") for i in range(12)]
    results = [p.get(timeout=30) for p in pending]

    def decided() -> TrialRow | None:  # every task's sample made a shadow or was refused
        row = trial_row()
        return row if row is not None and row.calls + row.skipped_budget == 12 else None

    row = wait_until(decided, timeout=20, what="every sample settled or refused")
    shadows = len(llm_server.requests_for(KIMI))
    assert shadows == row.calls and 1 <= shadows < 12  # the budget stopped the sampling
    cfg = rt.live.get()
    status = {s.budget: s for s in rt.budgets.status(cfg)}
    trial = status[f"trial:classification:{KIMI}"]
    assert trial.spent_micros > 0 and trial.spent_micros + trial.reserved_micros <= 900
    # production: what the tasks cost, nothing of the trials
    production = sum(r["cost_micros"] for r in results)
    assert status["overall"].spent_micros == production  # this window: these tasks only
    ids = {r["task_id"] for r in results}
    today = datetime.now(UTC).date()
    ours = [c for c in rt.ledger.calls(today) if c["task_id"] in ids]
    shadows_ = [c for c in rt.ledger.calls(today, trial=True) if c["task_id"] in ids]
    assert sum(c["cost_micros"] for c in ours) == production and len(ours) == 12
    assert not any(c["trial"] for c in ours) and all(c["trial"] for c in shadows_)
    assert sum(c["cost_micros"] for c in shadows_) == trial.spent_micros
    # the report's totals are the production records (its savings price their tokens),
    # and the trials are reported apart
    report = build_report(rt.ledger, cfg)
    everything = rt.ledger.calls(today)
    assert report["totals"]["spend_micros"] == sum(c["cost_micros"] for c in everything)
    assert report["totals"]["input_tokens"] == sum(c.get("input_tokens", 0) for c in everything)
    assert report["trials"]["spend_micros"] == sum(
        c["cost_micros"] for c in rt.ledger.calls(today, trial=True))


def test_free_text_is_judged_when_the_trial_names_a_judge(
    worker: Session, llm_server: LLMServer
) -> None:
    def edit(doc: dict[str, Any]) -> str:
        doc["model_keys"]["lookup"]["trials"] = [
            {"candidate": KIMI, "sample": 1.0, "daily_budget_usd": "1", "judge": "drafting"}]
        doc["model_keys"]["monitoring"]["trials"] = [
            {"candidate": KIMI, "sample": 1.0, "daily_budget_usd": "1"}]
        return "free-text trials"

    cfg = worker.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)
    judge = cfg.model_keys["drafting"].model
    llm_server.set_reply(lambda body: json.dumps({"same": True, "reason": "both say 429"})
                         if "Answer B" in user_text(body) else "Too many requests: back off.")
    run = worker.app.tasks["llm.run"]
    run.delay(model_key="lookup", prompt="What does HTTP 429 mean?").get(timeout=30)
    run.delay(model_key="monitoring", prompt="Anything odd?").get(timeout=30)
    def rows() -> dict[str, TrialRow] | None:
        found = {key: trial_row(key) for key in ("lookup", "monitoring")}
        lookup, monitoring = found["lookup"], found["monitoring"]
        done = (lookup is not None and lookup.agree == 1
                and monitoring is not None and monitoring.unjudged == 1)
        return {k: v for k, v in found.items() if v is not None} if done else None

    found = wait_until(rows, timeout=20, what="a judged and an unjudged trial")
    assert found["lookup"].samples == 1 and found["lookup"].judge_calls == 1
    assert found["monitoring"].samples == 0  # without a judge: cost, latency, validity
    assert [r.model for r in llm_server.requests if "Answer B" in user_text(r.body)] == [judge]


def extraction_reply(body: dict[str, Any]) -> str:
    """An answer naming every requested field (the prompt is the task's input as JSON)."""
    asked = json.loads(user_text(body))["fields"]
    return json.dumps({"fields": {name: f"value of {name}" for name in asked}})


def test_review_recommends_the_candidate_and_apply_writes_it(
    worker: Session, llm_server: LLMServer
) -> None:
    # data_extraction: a key no other test of this session gives trials to
    def edit(doc: dict[str, Any]) -> str:
        doc["model_keys"]["data_extraction"].update(
            trials=[{"candidate": KIMI, "sample": 1.0, "daily_budget_usd": "1"}],
            min_samples=20, min_agreement=0.8)
        return "extraction trial"

    cfg = worker.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)
    llm_server.set_reply(extraction_reply)
    task = worker.app.tasks["tasks.data_extraction"]
    for i in range(24):
        task.delay(text=f"Invoice {i} from Acme", fields={"vendor": "who", "total": "amount"}
                   ).get(timeout=30)
    scored(24, "data_extraction")
    review = as_json("review", "--days", "1")
    entry = review["model_keys"]["data_extraction"]
    (trial,) = entry["trials"]
    assert (trial["candidate"], trial["samples"], trial["agreement"]) == (KIMI, 24, 1.0)
    assert trial["agreement_low"] == pytest.approx(0.862, abs=1e-3)  # Wilson, 24 of 24
    assert entry["recommendation"]["action"] == "switch"
    assert entry["recommendation"]["to"] == KIMI
    assert entry["recommendation"]["monthly_saving_usd"] >= 0
    assert trial["monthly_saving_usd"] == entry["recommendation"]["monthly_saving_usd"]
    text = run("review", "--days", "1").stdout
    assert "data_extraction" in text and "switch -> kimi-for-coding" in text
    # --day moves the window: yesterday's had no samples, so nothing to apply from it
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    earlier = as_json("review", "--days", "1", "--day", yesterday)
    assert (earlier["from"], earlier["to"]) == (yesterday, yesterday)
    assert earlier["model_keys"]["data_extraction"]["trials"] == []
    assert "recommends no change" in run("review", "--apply", "data_extraction", "--day",
                                         yesterday, code=1).stderr
    assert "--day must be YYYY-MM-DD" in run("review", "--day", "2026-13-01", code=2).stderr
    # A stale --expect-version is refused and changes nothing
    version = worker.store.version()
    stale = run("review", "--apply", "data_extraction", "--expect-version",
                str(version - 1), code=3)
    assert "conflict" in stale.stderr and worker.store.version() == version
    # Applied: a new version by `review`, with the evidence; rollback undoes it
    applied = as_json("review", "--apply", "data_extraction", "--days", "1")
    assert applied["version"] == version + 1
    (entry_,) = worker.store.history(1)
    assert entry_["author"] == "review" and "24 samples" in entry_["summary"]
    moved = worker.store.read().model_keys["data_extraction"]
    assert moved.model == KIMI and moved.fallbacks[0] == HAIKU and not moved.trials
    run("config", "rollback", str(version))
    assert worker.store.read().model_keys["data_extraction"].model == HAIKU
    # a key the review keeps: nothing to act on
    keep = run("review", "--apply", "lookup", code=1)
    assert "recommends no change" in keep.stderr
