"""Candidates proposed from the price catalog: cheaper on the key's own tokens, within
the context window its calls need, with the capabilities it needs; `--add` writes the
best one and a trial of it as a new config version."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from routing.config.samples import SampleSpec
from routing.samples.store import SampleStore
from tests.support.celery import Session
from tests.support.cli import as_json, run
from tests.support.llm_server import LLMServer
from workers.execution.runtime import get_runtime

LABELS = ["spam", "ham", "unsure"]


@pytest.fixture
def traffic(worker: Session, llm_server: LLMServer) -> Session:
    """The default config, some classification calls in today's ledger, no samples."""
    worker.reset_config()
    SampleStore(worker.store.redis, worker.namespace).purge("classification")
    llm_server.set_reply(lambda body: json.dumps({"label": "spam", "confidence": 0.9}))
    for text in ("WIN A PRIZE", "hello mum"):
        worker.app.tasks["tasks.classification"].apply_async(
            kwargs={"text": text, "labels": LABELS}).get(timeout=30)
    return worker


def edit(session: Session, change: Any) -> None:
    def apply(doc: dict[str, Any]) -> str:
        change(doc["model_keys"]["classification"])
        return "candidates test"

    cfg = session.store.update(apply, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)


def classification(doc: dict[str, Any]) -> dict[str, Any]:
    entry = doc["model_keys"]["classification"]
    assert isinstance(entry, dict)
    return entry


def test_candidates_are_cheaper_and_new_catalog_models_are_marked(traffic: Session) -> None:
    entry = classification(as_json("review", "--candidates", "--key", "classification"))
    names = [c["model"] for c in entry["candidates"]]
    assert "kimi-for-coding" in names  # a config model, cheaper than Haiku 4.5
    assert any(c["new"] for c in entry["candidates"])  # the catalog's, not in the config
    for c in entry["candidates"]:
        assert c["monthly_micros"] > 0 and c["monthly_saving_micros"] > 0
        assert c["context_window"] >= entry["needed_context"]
        assert c["provider"] in {"anthropic", "openai", "google", "moonshot"}
    assert "claude-haiku-4-5" not in names and "claude-opus-4-6" not in names
    assert "cheaper candidates" in run("review", "--candidates", "--key",
                                       "classification").stdout


def test_candidates_respect_the_context_window_of_the_largest_sample(
    traffic: Session,
) -> None:
    # Given a recorded sample of 300,000 input tokens
    SampleStore(traffic.store.redis, traffic.namespace).record(
        "classification", "huge", {"usage": {"input_tokens": 300_000}},
        SampleSpec(share=1.0))
    entry = classification(as_json("review", "--candidates", "--key", "classification"))
    assert entry["needed_context"] >= 300_000
    assert all(c["context_window"] >= entry["needed_context"] for c in entry["candidates"])
    small = [r for r in entry["rejected"] if any("context window" in w for w in r["why"])]
    assert any(r["model"] == "kimi-for-coding" for r in small), entry["rejected"]


def test_candidates_have_the_capabilities_the_key_needs(traffic: Session) -> None:
    edit(traffic, lambda spec: spec.update(needs=["images"], downgrade_to=None,
                                           on_budget_exceeded="defer"))
    entry = classification(as_json("review", "--candidates", "--key", "classification"))
    assert not any(c["new"] for c in entry["candidates"])  # capabilities unknown
    assert all(c["model"] != "kimi-for-coding" for c in entry["candidates"])
    (kimi,) = [r for r in entry["rejected"] if r["model"] == "kimi-for-coding"]
    assert any("lacks images" in w for w in kimi["why"])


def test_add_writes_the_best_candidate_and_its_trial_as_a_new_version(
    traffic: Session,
) -> None:
    before = traffic.store.read()
    out = as_json("review", "--candidates", "--add", "--key", "classification",
                  "--trial-budget-usd", "2")
    entry = classification(out)
    best = entry["candidates"][0]
    assert out["version"] == before.version + 1 and len(out["added"]) >= 1
    after = traffic.store.read()
    (trial,) = after.model_keys["classification"].trials
    assert trial.candidate == best["model"] and trial.daily_budget_usd == Decimal(2)
    assert best["model"] in after.models
    if best["new"]:
        assert after.models[best["model"]].catalog_id == best["catalog_id"]
    # a second --add finds the candidate in trial already: the next one, or nothing
    again = classification(as_json("review", "--candidates", "--key", "classification"))
    assert any(c["in_trial"] for c in again["candidates"])
    run("review", "--add", code=2)
