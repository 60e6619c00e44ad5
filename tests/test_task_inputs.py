"""Task input is refused by name before any budget is reserved or provider called: a lone
surrogate in any text, a coerced int (`max_tokens=True` or `"100"`), an out-of-bounds
number, an unknown kwarg, positional arguments. Property: whatever the kwargs, a spec's
parse returns a Call whose text every SDK can encode, or raises TaskInputError."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.result import AsyncResult
from hypothesis import given
from hypothesis import strategies as st

from routing.config.defaults import default_config
from tasks.kinds import KINDS
from tasks.run_spec import RunSpec
from tests.support.celery import Session, foreign_app
from tests.support.cli import as_json
from tests.support.llm_server import LLMServer
from tests.support.properties import bounded
from tests.test_typed_tasks import CASES
from workers.contract import Call, WorkSpec, send_facts
from workers.errors import TaskInputError

CONFIG = default_config()
SPECS: dict[str, WorkSpec] = {"llm.run": RunSpec(), **{s.name: s for s in KINDS}}
GOOD: dict[str, dict[str, Any]] = {
    "llm.run": {"model_key": "monitoring", "prompt": "all fine?", "system": "Be brief."},
    **{f"tasks.{key}": kwargs for key, (kwargs, _) in CASES.items()},
}
BAD = "bad \ud800"


def refusal(task: str, kwargs: dict[str, Any]) -> str:
    with pytest.raises(TaskInputError) as info:
        SPECS[task].parse(kwargs, CONFIG)
    message = str(info.value)
    message.encode("utf-8")  # printable, loggable, JSON-able: the surrogate is not echoed
    assert message.startswith(f"{task}: invalid input: ")
    return message


def _text_slots(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, 'value' or 'key') of every text in a kwargs document (the keys of a mapping
    kwarg such as `fields` or `files` are text; a kwarg's name, or an item's field, not)."""
    if isinstance(value, str):
        yield path, "value"
    elif isinstance(value, dict):
        for key, item in value.items():
            if len(path) == 1:
                yield (*path, key), "key"
            yield from _text_slots(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _text_slots(item, (*path, i))


def _with_surrogate(kwargs: dict[str, Any], path: tuple[Any, ...], what: str) -> dict[str, Any]:
    out = copy.deepcopy(kwargs)
    holder = out
    for part in path[:-1]:
        holder = holder[part]
    if what == "value":
        holder[path[-1]] = BAD
    else:
        holder[BAD] = holder.pop(path[-1])
    return out


SURROGATE_CASES = [(task, path, what) for task, kwargs in GOOD.items()
                   for path, what in _text_slots(kwargs)]


@pytest.mark.parametrize(("task", "path", "what"), SURROGATE_CASES,
                         ids=[f"{t}:{'.'.join(map(str, p))}:{w}" for t, p, w in SURROGATE_CASES])
def test_a_lone_surrogate_in_any_text_is_refused_by_name(
    task: str, path: tuple[Any, ...], what: str
) -> None:
    message = refusal(task, _with_surrogate(GOOD[task], path, what))
    field = ".".join(map(str, path if what == "value" else path[:-1]))
    assert f"{field}" in message and "lone surrogate (U+D800)" in message, message
    assert BAD not in message


def test_llm_run_messages_with_a_surrogate_are_refused_too() -> None:
    message = refusal("llm.run", {"model_key": "lookup", "messages": [
        {"role": "system", "content": "ok"}, {"role": "user", "content": BAD}]})
    assert "messages.1.content: holds a lone surrogate (U+D800) at character 4" in message


@pytest.mark.parametrize(("value", "says"), [
    (True, "max_tokens: Input should be a valid integer"),
    ("100", "max_tokens: Input should be a valid integer"),
    (100.0, "max_tokens: Input should be a valid integer"),
    (0, "max_tokens: Input should be greater than or equal to 1"),
    (200_001, "max_tokens: Input should be less than or equal to 200000"),
    (10**30, "max_tokens: Input should be less than or equal to 200000"),
])
def test_llm_run_max_tokens_is_a_bounded_int_never_coerced(value: Any, says: str) -> None:
    assert says in refusal("llm.run", {**GOOD["llm.run"], "max_tokens": value})
    assert SPECS["llm.run"].parse({**GOOD["llm.run"], "max_tokens": 100}, CONFIG) \
        .max_tokens == 100


@pytest.mark.parametrize(("task", "field", "value", "says"), [
    ("tasks.content_curation", "max_selected", True, "max_selected: Input should be a valid "
                                                      "integer"),
    ("tasks.content_curation", "max_selected", "3", "valid integer"),
    ("tasks.drafting", "max_words", "300", "max_words: Input should be a valid integer"),
    ("tasks.drafting", "max_words", 10**9, "less than or equal to 100000"),
    ("tasks.classification", "labels", ["a", 1], "labels.1: Input should be a valid string"),
    ("tasks.lookup", "question", b"bytes", "question: Input should be a valid string"),
    ("llm.run", "model_key", 5, "model_key: Input should be a valid string"),
])
def test_typed_fields_are_strict(task: str, field: str, value: Any, says: str) -> None:
    assert says in refusal(task, {**GOOD[task], field: value})


@pytest.mark.parametrize("task", list(GOOD))
def test_an_unknown_kwarg_is_named_with_the_known_ones(task: str) -> None:
    message = refusal(task, {**GOOD[task], "temperature": 0.2})
    assert "temperature: unknown keyword argument (known: " in message
    first_field = next(iter(GOOD[task]))
    assert first_field in message.split("known: ", 1)[1]


# -- property: any kwargs ------------------------------------------------------------------

def _json_values() -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
               | st.floats() | st.text(max_size=10) | st.sampled_from([BAD, "\udfff", "", " "])
               | st.sampled_from([k for k in CONFIG.model_keys]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6) | st.sampled_from(
                            ["role", "content", "id", "title", BAD]), inner, max_size=3),
                        max_leaves=10)


@st.composite
def kwargs_for(draw: st.DrawFn, task: str) -> dict[str, Any]:
    """A task's good kwargs with some fields set to any value, dropped or added, or any
    dict at all."""
    if draw(st.booleans()):
        return draw(st.dictionaries(st.text(max_size=10), _json_values(), max_size=5))
    kwargs = copy.deepcopy(GOOD[task])
    names = [*SPECS_FIELDS[task], "extra"]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        name = draw(st.sampled_from(names))
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            kwargs.pop(name, None)
        else:
            kwargs[name] = draw(_json_values())
    return kwargs


SPECS_FIELDS = {
    "llm.run": ["model_key", "prompt", "messages", "system", "max_tokens"],
    **{s.name: list(s.input_model.model_fields) for s in KINDS},
}


def _encodable(call: Call) -> None:
    for message in call.messages:
        message.content.encode("utf-8")
    if call.system is not None:
        call.system.encode("utf-8")
    assert call.max_tokens is None or (type(call.max_tokens) is int
                                       and 1 <= call.max_tokens <= 200_000)
    assert call.input_tokens >= 0


@bounded(300)
@given(data=st.data(), task=st.sampled_from(list(SPECS)))
def test_any_kwargs_parse_to_an_encodable_call_or_a_task_input_error(
    data: st.DataObject, task: str
) -> None:
    kwargs = data.draw(kwargs_for(task), label="kwargs")
    # The producer's send-time routing never fails on them either
    facts = send_facts(task, kwargs)
    assert facts is None or (isinstance(facts[0], str) and facts[1] >= 0)
    try:
        call = SPECS[task].parse(kwargs, CONFIG)
    except TaskInputError as exc:
        str(exc).encode("utf-8")
        return
    _encodable(call)


# -- on a real worker: refused before any reservation or call -----------------------------

def _held_or_settled(client: redis.Redis, namespace: str, task_id: str) -> list[str]:
    """What a reservation of `task_id` would have left in Redis (held, or settled)."""
    from routing.keys import keyspace

    p = keyspace(namespace)
    found = [f"resv {c!r}" for c in client.hkeys(f"{p}:budget:resv")
             if c.decode().startswith(f"{task_id}:")]
    if client.hexists(f"{p}:budget:owners", task_id):
        found.append("owner")
    found += [k.decode() for k in client.scan_iter(match=f"{p}:ledger:settled:{task_id}:*")]
    return found


WORKER_CASES: list[tuple[str, list[Any], dict[str, Any], str]] = [
    ("llm.run", [], {"model_key": "monitoring", "prompt": BAD},
     "prompt: holds a lone surrogate (U+D800) at character 4"),
    ("llm.run", [], {"model_key": "monitoring", "prompt": "ok", "system": "\udfff"},
     "system: holds a lone surrogate (U+DFFF)"),
    ("llm.run", [], {"model_key": "monitoring", "prompt": "ok", "max_tokens": True},
     "max_tokens: Input should be a valid integer"),
    ("llm.run", [], {"model_key": "monitoring", "prompt": "ok", "max_tokens": "100"},
     "max_tokens: Input should be a valid integer"),
    ("llm.run", [], {"model_key": "monitoring", "prompt": "ok", "temprature": 0},
     "temprature: unknown keyword argument (known: model_key, prompt, messages, system, "
     "max_tokens, tools, tool_choice"),
    ("llm.run", ["monitoring", "all fine?"], {},
     "llm.run takes keyword arguments only: got 2 positional arguments; send each by name"),
    ("tasks.monitoring", ["api"], {"observations": ["ok"]},
     "tasks.monitoring takes keyword arguments only: got 1 positional argument; send each "
     "by name, e.g. send_task('tasks.monitoring', kwargs={...}), with the keys: source, "
     "observations"),
    ("tasks.monitoring", [], {"source": "api", "observations": ["ok", BAD]},
     "observations.1: holds a lone surrogate"),
]


def test_bad_input_sent_by_name_fails_named_with_no_reservation_and_no_call(
    worker: Session, llm_server: LLMServer, redis_client: redis.Redis
) -> None:
    app = foreign_app(worker.env)
    try:
        for name, args, kwargs, says in WORKER_CASES:
            # When a producer that does not import this project sends the bad input
            sent = app.send_task(name, args=args, kwargs=kwargs)
            # Then the task fails with a named input error (not a bare TypeError or an SDK's
            # UnicodeEncodeError echoing the request)
            with pytest.raises(Exception) as info:
                AsyncResult(sent.id, app=app).get(timeout=30)
            assert type(info.value).__name__ == "TaskInputError", info.value
            assert says in str(info.value), str(info.value)
            # and nothing was reserved for it, or settled
            assert _held_or_settled(redis_client, worker.namespace, sent.id) == []
    finally:
        app.close()
    # No provider was called, and no budget holds a reservation
    assert llm_server.requests == []
    budgets = {b["budget"]: b for b in as_json("budget", "show")["budgets"]}
    assert budgets["model_key:monitoring"]["reserved_micros"] == 0
    # A good input still runs (the same worker, the same producer path)
    ok = worker.app.tasks["llm.run"].delay(model_key="monitoring", prompt="fine?")
    assert ok.get(timeout=30)["model_key"] == "monitoring"
    assert len(llm_server.requests) == 1
    # (and its reservation left its trace: the check above would have seen one)
    assert _held_or_settled(redis_client, worker.namespace, ok.id)


# -- at call time: never above the called model's output limit ------------------------------

def test_max_tokens_is_clamped_to_each_called_models_output_limit(
    worker: Session, llm_server: LLMServer
) -> None:
    from routing.config.defaults import default_document
    from workers.execution.runtime import get_runtime

    # Given drafting on Sonnet 4.6 (64,000 output tokens) falls back to GPT-4o (16,384)
    doc = default_document()
    doc["model_keys"]["drafting"]["fallbacks"] = ["gpt-4o"]
    version = worker.store.write(doc, author="tests").version
    assert get_runtime().live.wait_for_version(version, timeout=5)
    limits = {m: CONFIG.models[m].max_output_tokens for m in ("claude-sonnet-4-6", "gpt-4o")}
    assert limits == {"claude-sonnet-4-6": 64_000, "gpt-4o": 16_384}
    llm_server.server_error(times=10, model="claude-sonnet-4-6")
    # When a caller asks for 30,000 output tokens and Sonnet 4.6 keeps failing
    out = worker.app.tasks["llm.run"].delay(
        model_key="drafting", prompt="a long essay", max_tokens=30_000).get(timeout=60)
    # Then Sonnet was asked for 30,000, and the fallback for its own limit, not more
    assert out["model"] == "gpt-4o" and out["fallback_from"] == ["claude-sonnet-4-6"]
    asked = {(r.model, r.max_tokens) for r in llm_server.requests}
    assert asked == {("claude-sonnet-4-6", 30_000), ("gpt-4o", 16_384)}
