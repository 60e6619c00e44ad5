"""docs/tasks.md is generated from the task models (`python -m tasks.reference`): it must
be up to date, and the models it documents must be what the tasks really take and return."""

from __future__ import annotations

import difflib
import json
from typing import Any

from tasks.reference import COMMAND, reference
from tasks.run_spec import RouteHop, RunResult, TypedResult
from tests.support.celery import ROOT, Session
from tests.support.llm_server import LLMServer

DOC = ROOT / "docs" / "tasks.md"


def test_docs_tasks_md_is_up_to_date() -> None:
    fresh = reference()
    stored = DOC.read_text("utf-8") if DOC.exists() else ""
    if stored != fresh:
        diff = "".join(difflib.unified_diff(stored.splitlines(True), fresh.splitlines(True),
                                            "docs/tasks.md", "generated", n=1))
        raise AssertionError(f"docs/tasks.md is stale; refresh it with `{COMMAND}`\n{diff[:3000]}")


def test_the_reference_covers_every_task_and_the_inbox() -> None:
    from tasks import TYPED

    text = DOC.read_text("utf-8")
    for name in ["llm.run", *(task.name for task in TYPED.values()), "cron.monitoring",
                 "cron.content_curation", "curation:inbox"]:
        assert f"`{name}" in text or name in text, name
    assert '"system" | "user" | "assistant"' in text.replace("\\|", "|")
    # the inbox key an agent is told to push to is the one the cron reads
    import redis

    from tasks.inbox import CurationInbox

    inbox = CurationInbox(redis.Redis(), "llmr")
    assert f"RPUSH '{inbox.key}' " in text


def test_the_user_docs_name_every_result_field_in_order() -> None:
    # The hand-written list a user reads first (README, or the docs/ page it moved to):
    # every field `RunResult` documents, in the order a result has them
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    said = next(text for page in pages if page.name != "tasks.md"
                for text in [" ".join(page.read_text("utf-8").split())]
                if "returns, in this order, `model_key`" in text)
    listed = said.split("returns, in this order, ", 1)[1].split("and `text`", 1)[0]
    fields = [name for name in RunResult.model_fields if name != "text"]
    at = [listed.find(f"`{name}`") for name in fields]
    missing = [name for name, i in zip(fields, at, strict=True) if i < 0]
    assert not missing, f"result fields the user docs do not list: {missing}"
    assert at == sorted(at), "the user docs list the result fields out of order"


def check_documented(result: dict[str, Any], model: type[RunResult]) -> None:
    """Every field of `result` is documented, of its documented type, in the documented
    order."""
    model.model_validate(result)  # every required field, of its type
    documented = [name for name in model.model_fields if name in result]
    assert list(result) == documented, (list(result), documented)  # none undocumented
    # what Flower's task list shows first
    assert list(result)[:6] == ["model_key", "model", "cost_usd", "tier", "queue", "usage"]
    for hop in result.get("hops", []):
        assert list(hop) == ["kind", "from", "to", "reason"]  # RouteHop (extra fields refused)


def test_results_have_the_documented_fields_in_the_documented_order(
    worker: Session, llm_server: LLMServer
) -> None:
    run = worker.app.tasks["llm.run"].delay(model_key="lookup", prompt="q").get(timeout=30)
    llm_server.set_reply(json.dumps({"label": "bug", "confidence": 0.8}))
    typed = worker.app.tasks["tasks.classification"].delay(
        text="it crashes", labels=["bug", "question"]).get(timeout=30)
    check_documented(run, RunResult)
    check_documented(typed, TypedResult)


def test_a_result_that_moved_between_models_has_only_documented_fields(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given Haiku is overloaded (monitoring falls back) and answers classification with a
    # label that was not offered (it escalates), while the other models answer well
    llm_server.overloaded(times=10, model="claude-haiku-4-5")
    fell_back = worker.app.tasks["llm.run"].delay(model_key="monitoring", prompt="m").get(
        timeout=60)
    llm_server.reset()
    llm_server.set_reply(json.dumps({"label": "maybe", "confidence": 0.9}),
                         model="claude-haiku-4-5")
    llm_server.set_reply(json.dumps({"label": "bug", "confidence": 0.8}),
                         model="claude-sonnet-4-6")
    escalated = worker.app.tasks["tasks.classification"].delay(
        text="it crashes", labels=["bug", "question"]).get(timeout=30)
    # Then each result's fields, hops included, are the documented ones
    check_documented(fell_back, RunResult)
    check_documented(escalated, TypedResult)
    (hop,) = fell_back["hops"]
    assert (hop["kind"], hop["from"], hop["to"]) == (
        "fallback", "claude-haiku-4-5", fell_back["model"])
    assert "claude-haiku-4-5" in hop["reason"] and fell_back["fallback_from"] == [hop["from"]]
    (hop,) = escalated["hops"]
    assert (hop["kind"], hop["from"], hop["to"]) == (
        "escalate", "claude-haiku-4-5", "claude-sonnet-4-6")
    assert escalated["escalated_from"] == [hop["from"]]
    # and the reference says what a hop holds
    text = DOC.read_text("utf-8")
    assert "| `hops` | `list[RouteHop]" in text and "`RouteHop`:" in text
    for name in RouteHop.model_json_schema()["properties"]:
        assert f"| `{name}` |" in text
