"""Recorded samples on real workers: opt-in per model key, bounded, never the task's
failure, shown without their text unless asked, purged and expired as they say."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from routing.config.load import load_config
from routing.config.samples import SampleSpec
from routing.errors import ConfigError
from routing.samples.store import SampleStore
from tests.support.celery import Session
from tests.support.cli import as_json, run
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.runtime import get_runtime

LABELS = ["spam", "ham", "unsure"]


def enable(session: Session, key: str = "classification", **spec: Any) -> None:
    def edit(doc: dict[str, Any]) -> str:
        doc["model_keys"][key]["samples"] = {"share": 1.0, **spec}
        return "samples"

    cfg = session.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=5)


def store(session: Session) -> SampleStore:
    return SampleStore(session.store.redis, session.namespace)


def classify(session: Session, text: str) -> dict[str, Any]:
    result = session.app.tasks["tasks.classification"].apply_async(
        kwargs={"text": text, "labels": LABELS}).get(timeout=30)
    assert isinstance(result, dict)
    return result


@pytest.fixture(autouse=True)
def clean(celery: Session) -> None:
    store(celery).purge("classification")


def test_samples_settings_are_validated_with_their_path(celery: Session) -> None:
    doc = celery.store.read().document()
    doc["model_keys"]["classification"]["samples"] = {"share": 5, "max_bytes": 10}
    with pytest.raises(ConfigError) as refused:
        load_config(doc)
    paths = {path for path, _ in refused.value.problems}
    assert {"model_keys.classification.samples.share",
            "model_keys.classification.samples.max_bytes"} <= paths


def test_a_sampled_call_is_recorded_with_its_input_and_answer(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.set_reply(lambda body: json.dumps({"label": "spam", "confidence": 0.9}))
    enable(worker)
    result = classify(worker, "WIN A PRIZE")
    (sample,) = wait_until(lambda: store(worker).samples("classification"), timeout=10,
                           what="the recorded sample")
    assert sample["id"] == result["task_id"] and sample["model"] == result["model"]
    call = sample["call"]
    assert call["model_key"] == "classification" and call["system"]
    assert "WIN A PRIZE" in call["messages"][0]["content"]
    assert call["given"] == {"text": "WIN A PRIZE", "labels": LABELS} | {
        k: v for k, v in call["given"].items() if k not in ("text", "labels")}
    assert sample["answer"]["output"]["label"] == "spam"
    assert sample["usage"]["input_tokens"] > 0
    raw = json.dumps(sample)
    assert "test-key" not in raw and "api_key" not in raw.lower()
    # shown without its text unless asked
    shown = run("samples", "show", "classification").stdout
    assert "1 samples" in shown and "WIN A PRIZE" not in shown
    summary = as_json("samples", "show", "classification")
    assert summary["count"] == 1 and "samples" not in summary
    assert "WIN A PRIZE" in run("samples", "show", "classification", "--text").stdout


def test_an_oversize_sample_is_refused_and_the_task_succeeds(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.set_reply(lambda body: json.dumps({"label": "ham", "confidence": 0.9}))
    enable(worker, max_bytes=256)
    result = classify(worker, "x" * 2000)
    assert result["output"]["label"] == "ham"
    wait_until(lambda: store(worker).summary("classification").oversize == 1, timeout=10,
               what="the oversize sample counted")
    assert store(worker).summary("classification").count == 0


def test_retention_and_count_and_purge_delete_what_they_say(celery: Session) -> None:
    samples = store(celery)
    spec = SampleSpec(share=1.0, max_count=3, retention_days=1)
    now = time.time()
    samples.record("classification", "old", {"n": 0}, spec, now=now - 2 * 86_400)
    for n in range(1, 5):
        samples.record("classification", f"s{n}", {"n": n}, spec, now=now + n)
    # the old one is past its retention, s1 beyond the count
    assert samples.ids("classification") == ["s4", "s3", "s2"]
    assert samples.load("classification", "old") is None
    assert samples.load("classification", "s1") is None
    for key in samples.keys("classification"):
        assert 0 < celery.store.redis.ttl(key) <= 86_400
    assert as_json("samples", "purge", "classification") == {
        "model_key": "classification", "deleted": 3}
    assert not any(celery.store.redis.exists(k) for k in samples.keys("classification"))
    run("samples", "show", "nope", code=2)


def test_a_recorded_call_comes_back_as_the_same_call(celery: Session) -> None:
    from tasks.samples import restore_call
    from tasks.trials import SPECS
    from workers.contract import call_document

    cfg = get_runtime().router.config
    for name, kwargs in (("tasks.classification", {"text": "hi", "labels": LABELS}),
                         ("llm.run", {"model_key": "lookup", "system": "be brief",
                                      "messages": [{"role": "user", "content": "q"},
                                                   {"role": "assistant", "content": "a"},
                                                   {"role": "user", "content": "q2"}]})):
        spec = SPECS[name]
        call = spec.parse(kwargs, cfg)
        document = json.loads(json.dumps(call_document(call)))
        assert restore_call(spec, {"call": document}) == call
