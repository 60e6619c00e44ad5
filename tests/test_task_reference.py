"""docs/tasks.md is generated from the task models (`python -m tasks.reference`): it must
be up to date, and the models it documents must be what the tasks really take and return."""

from __future__ import annotations

import difflib
import json

from tasks.reference import COMMAND, reference
from tasks.run_spec import RunResult, TypedResult
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


def test_results_have_the_documented_fields_in_the_documented_order(
    worker: Session, llm_server: LLMServer
) -> None:
    run = worker.app.tasks["llm.run"].delay(model_key="lookup", prompt="q").get(timeout=30)
    llm_server.set_reply(json.dumps({"label": "bug", "confidence": 0.8}))
    typed = worker.app.tasks["tasks.classification"].delay(
        text="it crashes", labels=["bug", "question"]).get(timeout=30)
    for result, model in ((run, RunResult), (typed, TypedResult)):
        model.model_validate(result)  # every required field, of its type
        documented = [name for name in model.model_fields if name in result]
        assert list(result) == documented, (list(result), documented)
        # what Flower's task list shows first
        assert list(result)[:6] == ["model_key", "model", "cost_usd", "tier", "queue", "usage"]
