"""Replaying recorded samples on a candidate, on real workers: scored exactly as live
trials, into the trial's evidence marked replay, paid from the trial budget, at the
batch price where the provider has a batch API, and resumable without paying twice."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery

from cli.replay_run import plan, send_and_wait
from routing.samples.store import SampleStore
from routing.spend.aggregates import TrialRow
from tasks.trials import SPECS
from tests.support.celery import Session, WorkerProcess
from tests.support.cli import run
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.contract import call_document
from workers.execution.runtime import get_runtime

HAIKU, SONNET, KIMI = "claude-haiku-4-5", "claude-sonnet-4-6", "kimi-for-coding"
LABELS = ["spam", "ham", "unsure"]
TEXTS = ["WIN A PRIZE", "lunch at HAM o'clock", "JUNK reply please", "cheap pills"]


def user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            content = message["content"]
            return content if isinstance(content, str) else "".join(
                part.get("text", "") for part in content)
    return ""


def candidate_reply(body: dict[str, Any]) -> str:
    """The candidate: "ham" where the text says HAM, junk where it says JUNK."""
    text = user_text(body)
    if "JUNK" in text:
        return "no json here"
    return json.dumps({"label": "ham" if "HAM" in text else "spam", "confidence": 0.8})


def production_reply(body: dict[str, Any]) -> str:
    return json.dumps({"label": "spam", "confidence": 0.9})


def configure(session: Session, key: str = "classification", *,
              samples: dict[str, Any] | None = None, trial: dict[str, Any] | None = None,
              model: str | None = None) -> None:
    def edit(doc: dict[str, Any]) -> str:
        spec = doc["model_keys"][key]
        spec["samples"] = samples
        spec["trials"] = [trial] if trial else []
        if model:
            spec["model"] = model
            spec["fallbacks"] = [m for m in spec.get("fallbacks", []) if m != model]
        spec.update(min_samples=3, min_agreement=0.5)
        return "replay test"

    cfg = session.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)


def trial_of(candidate: str, sample: float = 1.0, budget: str = "1") -> dict[str, Any]:
    return {"candidate": candidate, "sample": sample, "daily_budget_usd": budget}


def today_row(key: str, candidate: str) -> TrialRow:
    today = datetime.now(UTC).date().isoformat()
    rows = [r for r in get_runtime().ledger.trial_aggregates(today)
            if (r.model_key, r.model) == (key, candidate)]
    return rows[0] if rows else TrialRow(key, candidate, "")


def delta(now: TrialRow, base: TrialRow, *names: str) -> dict[str, int]:
    return {n: getattr(now, n) - getattr(base, n) for n in names}


def classify(session: Session, text: str) -> dict[str, Any]:
    out = session.app.tasks["tasks.classification"].apply_async(
        kwargs={"text": text, "labels": LABELS}).get(timeout=30)
    assert isinstance(out, dict)
    return out


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def clean(celery: Session) -> None:
    SampleStore(celery.store.redis, celery.namespace).purge("classification")


def test_replay_scores_exactly_as_the_live_trial_on_the_same_answers(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.set_reply(production_reply)
    llm_server.set_reply(candidate_reply, model=KIMI)
    base = today_row("classification", KIMI)
    # Given samples recorded of production work (no trial yet)
    configure(worker, samples={"share": 1.0})
    for text in TEXTS:
        classify(worker, text)
    store = SampleStore(worker.store.redis, worker.namespace)
    wait_until(lambda: len(store.ids("classification")) == len(TEXTS), timeout=10,
               what="the recorded samples")
    # ... and a live trial of the candidate on the same work, scored live
    configure(worker, trial=trial_of(KIMI))
    for text in TEXTS:
        classify(worker, text)
    wait_until(lambda: today_row("classification", KIMI).samples - base.samples
               == len(TEXTS), timeout=20, what="the live trial's scores")
    # When the recorded samples are replayed on the candidate
    result = run("trial", "replay", "classification", "--candidate", KIMI, "--json")
    *outcomes, summary = json_lines(result.stdout)
    assert summary["summary"]["sent"] == len(TEXTS) and not summary["summary"]["batch"]
    # Then the replay's verdicts are the live trial's, counter for counter
    now = today_row("classification", KIMI)
    live = delta(now, base, "samples", "agree", "disagree", "candidate_invalid")
    replay = delta(now, base, "replay_samples", "replay_agree", "replay_disagree",
                   "replay_candidate_invalid")
    assert live == {"samples": 4, "agree": 2, "disagree": 1, "candidate_invalid": 1}
    assert replay == {"replay_" + k: v for k, v in live.items()}
    assert Counter(o["verdict"] for o in outcomes) == Counter(
        {"agree": 2, "disagree": 1, "candidate_invalid": 1})
    # ... paid from the trial's budget: no production spend for the replay
    assert now.calls - base.calls == 2 * len(TEXTS)
    # And the review shows both side by side, the Wilson rule on their sum
    review = json.loads(run("review", "--json").stdout)
    (trial,) = [t for t in review["model_keys"]["classification"]["trials"]
                if t["candidate"] == KIMI]
    assert trial["samples"] == trial["live"]["samples"] + trial["replay"]["samples"]
    assert trial["replay"]["samples"] >= 4 and "sum" in trial["evidence_rule"]
    assert "samples live+replay" in run("review").stdout
    # A second run finds nothing left to replay: nothing is paid twice
    again = json_lines(run("trial", "replay", "classification", "--candidate", KIMI,
                           "--json").stdout)
    assert again[-1]["summary"]["sent"] == 0
    assert again[-1]["summary"]["done_before"] == len(TEXTS)


def record(session: Session, texts: list[str], key: str = "classification") -> list[str]:
    """Samples written as production records them (without running production)."""
    cfg = get_runtime().router.config
    store = SampleStore(session.store.redis, session.namespace)
    spec = cfg.model_keys[key].samples
    assert spec is not None
    ids = []
    for n, text in enumerate(texts):
        call = SPECS[f"tasks.{key}"].parse({"text": text, "labels": LABELS}, cfg)
        sample_id = f"rec-{time.time_ns()}-{n}"
        store.record(key, sample_id, {
            "id": sample_id, "task_name": f"tasks.{key}", "model_key": key,
            "model": cfg.model_keys[key].model, "call": call_document(call),
            "answer": {"text": production_reply({}), "output": {"label": "spam",
                                                                "confidence": 0.9}},
            "usage": {"input_tokens": call.input_tokens, "output_tokens": 12},
            "cost_micros": 40, "latency_ms": 300.0}, spec)
        ids.append(sample_id)
    return ids


def test_a_batched_replay_pays_the_batch_price(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a key on Sonnet with samples, and a trial of Haiku (Anthropic: a batch API)
    llm_server.set_reply(candidate_reply, model=HAIKU)
    configure(worker, samples={"share": 1.0}, trial=trial_of(HAIKU), model=SONNET)
    record(worker, ["WIN A PRIZE", "lunch at HAM o'clock"])
    base = today_row("classification", HAIKU)
    # When it is replayed (batch: the default for this candidate)
    result = run("trial", "replay", "classification", "--candidate", HAIKU,
                 "--poll-seconds", "0.2", "--json")
    *outcomes, summary = json_lines(result.stdout)
    # Then one provider batch answered both, scored, at the batch price
    assert summary["summary"]["batch"] and len(summary["summary"]["batch_ids"]) == 1
    assert sorted(o["verdict"] for o in outcomes) == ["agree", "disagree"]
    now = today_row("classification", HAIKU)
    assert delta(now, base, "replay_samples", "calls") == {"replay_samples": 2, "calls": 2}
    cfg = get_runtime().router.config
    calls = [c for c in get_runtime().ledger.calls(datetime.now(UTC).date(), trial=True)
             if c["call_id"].startswith("replay:rec-") and c["model"] == HAIKU]
    assert calls and all(c["batch"] for c in calls)
    assert cfg.price_of(HAIKU).batch_discount
    assert sum(o["cost_micros"] for o in outcomes) == now.micros - base.micros


def test_a_replay_cut_off_by_sigkill_resumes_and_pays_each_sample_once(
    celery: Session, isolated_producer: tuple[dict[str, str], Celery],
    llm_server: LLMServer, worker_processes: list[WorkerProcess],
) -> None:
    env, producer = isolated_producer
    llm_server.set_reply(candidate_reply, model=KIMI)
    configure(celery, samples={"share": 1.0}, trial=trial_of(KIMI))
    ids = record(celery, [f"message {n}" for n in range(4)])
    first = WorkerProcess(env, ["llm.kimi"], "doomed", concurrency=1)
    worker_processes.append(first)
    first.wait_ready()
    # Given a replay whose first candidate call the provider holds while its worker dies
    llm_server.stall(30, times=1, model=KIMI)
    cfg = get_runtime().router.config
    store = SampleStore(celery.store.redis, celery.namespace)
    chosen = plan(store, cfg, "classification", KIMI, batch=False, samples=None,
                  budget_usd=Decimal("1"))
    assert sorted(chosen.sample_ids) == sorted(ids)
    for n, sample_id in enumerate(chosen.sample_ids):
        producer.send_task("llm.replay", queue="llm.kimi", kwargs={
            "replay_id": f"cut-{n}", "model_key": "classification", "candidate": KIMI,
            "sample_ids": [sample_id], "batch": False})
    wait_until(lambda: llm_server.requests_for(KIMI), timeout=30, what="the first call")
    first.kill()
    # When the replay is run again on a new worker
    second = WorkerProcess(env, ["llm.kimi"], "survivor", concurrency=2)
    worker_processes.append(second)
    second.wait_ready()
    resumed = plan(store, cfg, "classification", KIMI, batch=False, samples=None,
                   budget_usd=None)
    out = send_and_wait(producer, cfg, resumed, timeout=60, poll_seconds=1)
    assert not out.interrupted
    day = datetime.now(UTC).date()

    def settled() -> Counter[str]:
        return Counter(c["call_id"] for c in get_runtime().ledger.calls(day, trial=True)
                       if c["call_id"].startswith("replay:rec-") and c["call_id"].split(":")[1]
                       in ids)

    # Then every sample but the one cut off is scored, each settled once
    wait_until(lambda: len(settled()) == len(ids) - 1, timeout=30,
               what="the other samples scored")
    assert all(n == 1 for n in settled().values()), settled()
    # ... and no sample was asked of the candidate twice: the one cut off (it may have
    # been paid) is claimed, so the resumed run skips it
    asked = Counter(user_text(r.body) for r in llm_server.requests_for(KIMI))
    assert all(n == 1 for n in asked.values()), asked
    assert len(asked) == len(ids)
    (cut,) = [i for i in ids if f"replay:{i}:{KIMI}" not in settled()]
    assert cut in resumed.sample_ids
    (skipped,) = [o for o in out.outcomes if o["sample"] == cut]
    assert "claimed already" in skipped["skipped"]


def test_replay_refuses_a_candidate_without_a_trial(celery: Session) -> None:
    configure(celery, samples={"share": 1.0})
    result = run("trial", "replay", "classification", "--candidate", KIMI, code=2)
    assert "no trial" in result.stderr
    run("trial", "replay", "classification", "--candidate", "nope", code=2)


def test_from_a_release_to_a_recommendation_in_one_sitting(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given production traffic of classification, recorded, and no trial
    llm_server.set_reply(production_reply)
    configure(worker, samples={"share": 1.0})
    for n in range(8):
        classify(worker, f"offer number {n}")
    store = SampleStore(worker.store.redis, worker.namespace)
    wait_until(lambda: len(store.ids("classification")) == 8, timeout=10,
               what="the recorded samples")
    production_calls = len(llm_server.requests)
    # When the operator adds the best candidate, replays the samples on it, and reviews
    added = json.loads(run("review", "--candidates", "--add", "--key", "classification",
                           "--json").stdout)
    best = added["model_keys"]["classification"]["candidates"][0]
    assert get_runtime().live.wait_for_version(added["version"], timeout=5)
    lines = json_lines(run("trial", "replay", "classification", "--candidate", best["model"],
                           "--poll-seconds", "0.2", "--json").stdout)
    summary = lines[-1]["summary"]
    assert summary["sent"] == 8 and summary["counts"] == {"agree": 8}
    review = json.loads(run("review", "--json").stdout)
    rec = review["model_keys"]["classification"]["recommendation"]
    # Then the review recommends the candidate on the replayed samples
    assert (rec["action"], rec["to"]) == ("switch", best["model"])
    assert "replay 8" in rec["reason"]
    # ... production traffic untouched: the replay asked only the candidate
    asked = {r.model for r in llm_server.requests[production_calls:]}
    assert asked == {best["catalog_id"]}, asked
    # and review --apply carries it out
    applied = json.loads(run("review", "--apply", "classification", "--json").stdout)
    assert applied["recommendation"]["to"] == best["model"]
    assert worker.store.read().model_keys["classification"].model == best["model"]
