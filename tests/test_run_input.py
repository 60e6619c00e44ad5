"""`llm.run`'s input: `prompt` or `messages` (OpenAI-style leading `system` messages are the
system prompt), refused by name when it does not fit. Parsing is plain Python; one case
runs through a real worker to the provider's wire format."""

from __future__ import annotations

import json
from typing import Any

import pytest

from routing.config.defaults import default_config
from tasks.run_spec import RunSpec
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from workers.contract import Call, Message
from workers.errors import TaskInputError


def parse(**kwargs: Any) -> Call:
    return RunSpec().parse({"model_key": "lookup", **kwargs}, default_config())


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def test_leading_system_messages_become_the_system_prompt() -> None:
    call = parse(messages=[msg("system", "Be brief."), msg("user", "hi"),
                           msg("assistant", "hello"), msg("user", "and?")])
    assert call.system == "Be brief."
    assert call.messages == (Message("user", "hi"), Message("assistant", "hello"),
                             Message("user", "and?"))
    two = parse(messages=[msg("system", "Be brief."), msg("system", "Answer in French."),
                          msg("user", "hi")])
    assert two.system == "Be brief.\n\nAnswer in French."
    assert two.messages == (Message("user", "hi"),)


def test_without_system_messages_nothing_changes() -> None:
    call = parse(messages=[msg("user", "hi")], system="Be brief.")
    assert (call.system, call.messages) == ("Be brief.", (Message("user", "hi"),))
    assert parse(prompt="hi").messages == (Message("user", "hi"),)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"messages": [msg("system", "a"), msg("user", "hi")], "system": "b"},
     "give the system prompt once: `system`, or a leading {\"role\": \"system\"} message"),
    ({"messages": [msg("user", "hi"), msg("system", "late")]},
     "messages[1]: a system message must come before every user and assistant message"),
    ({"messages": [msg("system", "a"), msg("user", "hi"), msg("assistant", "x"),
                   msg("system", "late")]}, "messages[3]: a system message must come before"),
    ({"messages": [msg("system", "alone")]}, "holds only system messages: add a user message"),
    ({"messages": [msg("robot", "x")]}, "messages.0.role: Input should be 'system', 'user', "
                                        "'assistant' or 'tool'"),
    ({"messages": [msg("user", "")]}, "messages.0.content"),
    ({"prompt": "a", "messages": [msg("user", "b")]}, "give either `prompt` or `messages`"),
])
def test_misplaced_or_doubled_system_prompts_are_refused_by_name(
    kwargs: dict[str, Any], says: str
) -> None:
    with pytest.raises(TaskInputError) as info:
        parse(**kwargs)
    assert str(info.value).startswith("llm.run: invalid input: ")
    assert says in str(info.value)


def test_a_system_message_reaches_the_provider_as_its_system_prompt(
    worker: Session, llm_server: LLMServer
) -> None:
    out = worker.app.tasks["llm.run"].delay(
        model_key="lookup", messages=[msg("system", "Answer in one word."), msg("user", "hi")],
    ).get(timeout=30)
    assert out["text"]
    (request,) = llm_server.requests
    assert "Answer in one word." in json.dumps(request.body["system"])
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]
