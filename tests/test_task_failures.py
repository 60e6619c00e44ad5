"""Rate limits, overload, fallbacks, permanent errors and escalation, on real workers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from routing.spend.cooldown import Cooldowns
from tests.support.celery import Session
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.runtime import get_runtime


def test_rate_limited_call_waits_for_retry_after_then_succeeds(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given the provider answers the first call with 429 and retry-after: 1
    llm_server.rate_limit(times=1, retry_after=1, model="claude-haiku-4-5")
    out = worker.app.tasks["llm.run"].delay(model_key="lookup", prompt="q").get(timeout=30)
    # Then the task succeeds on the same model, on the second call, no sooner than 1 s later
    first, second = llm_server.requests_for("claude-haiku-4-5")
    assert second.time - first.time >= 1.0
    assert (out["model"], out["attempts"]) == ("claude-haiku-4-5", 2)
    assert "fallback_from" not in out


def test_rate_limit_sets_a_cooldown_that_other_tasks_honor(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a first task whose call is answered 429 with retry-after: 2
    llm_server.rate_limit(times=1, retry_after=2, model="claude-haiku-4-5")
    run = worker.app.tasks["llm.run"]
    first = run.delay(model_key="lookup", prompt="one")
    limited = wait_until(lambda: llm_server.requests_for("claude-haiku-4-5"), timeout=30,
                         what="the first, rate-limited call")[0]
    # (its worker has the 429 and has set the cooldown: on RabbitMQ the next tasks would
    # otherwise arrive within the millisecond the answer takes)
    cooldowns = Cooldowns(get_runtime().redis, worker.namespace, refresh=0)
    wait_until(lambda: cooldowns.remaining("claude-haiku-4-5") > 0, timeout=10,
               what="the cooldown set after the 429")
    # When other tasks for the same model arrive during the cooldown
    others = [run.delay(model_key=key, prompt=f"other {i}")
              for i, key in enumerate(["lookup", "monitoring", "classification"])]
    results = [first.get(timeout=30), *(o.get(timeout=30) for o in others)]
    # Then none of them called the model before the cooldown was over
    later = llm_server.requests_for("claude-haiku-4-5")[1:]
    assert len(later) == 4
    assert min(r.time for r in later) - limited.time >= 2.0
    assert [r["model"] for r in results] == ["claude-haiku-4-5"] * 4
    assert results[0]["attempts"] == 2 and all(r["attempts"] == 1 for r in results[1:])


def test_repeated_server_errors_fall_back_to_the_next_model(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given Sonnet 4.6 keeps failing with 500
    llm_server.server_error(times=10, model="claude-sonnet-4-6")
    out = worker.app.tasks["llm.run"].delay(model_key="drafting", prompt="draft").get(timeout=60)
    # Then after the retries on it, the first fallback answers, on its own tier's queue
    assert out["model"] == "claude-sonnet-4-5"
    assert out["fallback_from"] == ["claude-sonnet-4-6"]
    assert out["queue"] == "llm.sonnet"
    assert len(llm_server.requests_for("claude-sonnet-4-6")) == 3  # attempts_per_model
    assert out["attempts"] == 4


def test_overloaded_haiku_falls_back_across_tiers(worker: Session, llm_server: LLMServer) -> None:
    llm_server.overloaded(times=10, model="claude-haiku-4-5")
    out = worker.app.tasks["llm.run"].delay(model_key="monitoring", prompt="m").get(timeout=60)
    assert (out["model"], out["queue"]) == ("gemini-2.5-pro", "llm.sonnet")
    assert out["fallback_from"] == ["claude-haiku-4-5"]
    assert len(llm_server.requests_for("gemini-2.5-pro")) == 1


def test_permanent_error_fails_at_once_without_retry(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.bad_request(times=5, message="prompt is malformed")
    pending = worker.app.tasks["llm.run"].delay(model_key="lookup", prompt="q")
    with pytest.raises(Exception, match="malformed"):
        pending.get(timeout=30)
    assert len(llm_server.requests) == 1


def test_every_model_failing_fails_the_task_naming_them(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.server_error(times=100)
    pending = worker.app.tasks["llm.run"].delay(model_key="strategic_decision", prompt="q")
    with pytest.raises(Exception, match="every model failed") as info:
        pending.get(timeout=60)
    assert "claude-opus-4-6" in str(info.value) and "claude-sonnet-4-6" in str(info.value)


def _classification_reply(label: str) -> Any:
    def reply(body: dict[str, Any]) -> str:
        return json.dumps({"label": label, "confidence": 0.9})

    return reply


def test_invalid_structured_output_escalates(worker: Session, llm_server: LLMServer) -> None:
    # Given Haiku answers with a label that was not offered, and Sonnet answers well
    llm_server.set_reply(_classification_reply("maybe"), model="claude-haiku-4-5")
    llm_server.set_reply(_classification_reply("spam"), model="claude-sonnet-4-6")
    task = worker.app.tasks["tasks.classification"]
    out = task.delay(text="WIN A PRIZE", labels=["spam", "ham"]).get(timeout=30)
    # Then the task escalated to the escalation target's model, and says so
    assert out["output"] == {"label": "spam", "confidence": 0.9}
    assert out["escalated_from"] == [DESIGN_ROUTES["classification"][0]]
    assert (out["model"], out["queue"]) == DESIGN_ROUTES["orchestration"]
    assert out["attempts"] == 2
    assert out["model_key"] == "classification"


def test_escalation_is_bounded(worker: Session, llm_server: LLMServer) -> None:
    llm_server.set_reply("not json at all")
    task = worker.app.tasks["tasks.classification"]
    with pytest.raises(Exception, match="failed validation"):
        task.delay(text="x", labels=["a", "b"]).get(timeout=30)
    # haiku -> sonnet (orchestration) -> opus (strategic_decision): three calls
    assert [r.model for r in llm_server.requests] == [
        "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6"
    ]


def test_a_rate_limit_storm_costs_one_probe_per_retry_after_not_bursts(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a provider that answers 429 (retry-after: 1 s) to every call for 3 seconds
    llm_server.storm(3.0, retry_after=1, model="claude-haiku-4-5")
    run = worker.app.tasks["llm.run"]
    # When 20 tasks want the model during the storm
    pending = [run.delay(model_key="lookup", prompt=f"q{i}") for i in range(20)]
    results = [p.get(timeout=60) for p in pending]
    # Then the storm cost the first wave (the calls already in flight when the first 429
    # came back: at most the worker's 8 threads) and one probe per retry-after (3 s / 1 s:
    # at most 3, and a 4th racing the storm's end), not every waiting task at each expiry
    # (a burst of up to 8 per second: 20+ 429s). Counted, not timed: on a loaded machine a
    # first-wave call may reach the server late, so the times prove nothing.
    limited = [r for r in llm_server.requests_for("claude-haiku-4-5") if r.status == 429]
    ok = [r for r in llm_server.requests_for("claude-haiku-4-5") if r.status == 200]
    # (a task that probed three times in the storm used up its attempts and fell back)
    assert len(results) == 20 and len(ok) >= 18
    assert len(ok) + sum("fallback_from" in r for r in results) == 20
    assert 2 <= len(limited) <= 8 + 4, [round(r.time - limited[0].time, 2) for r in limited]
    # and the successes all came after the storm, once the last probe succeeded
    assert min(r.time for r in ok) >= limited[-1].time
