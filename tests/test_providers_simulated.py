"""The offline provider: deterministic, realistic usage, JSON on request, thread-safe."""

from __future__ import annotations

import json
import threading
import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from routing.tokens import estimate_text_tokens, estimate_tokens
from workers.contract import Message, json_schema_block
from workers.providers.base import Completion, CompletionRequest
from workers.providers.schema_instance import schema_instance
from workers.providers.simulated import MIN_CACHE_TOKENS, SimulatedProvider, find_schema


def ask(prompt: str = "Summarize the queue health.", *, model: str = "claude-haiku-4-5",
        system: str | None = "You watch systems.", max_tokens: int = 1024,
        cache: bool = False) -> CompletionRequest:
    return CompletionRequest(model=model, messages=(Message("user", prompt),),
                             max_tokens=max_tokens, system=system, cache_system=cache)


class Finding(BaseModel):
    severity: Literal["low", "medium", "high"]
    line: int = Field(ge=1)
    note: str = Field(min_length=3, max_length=40)


class Review(BaseModel):
    findings: list[Finding] = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    approved: bool
    next_key: Literal["code_review", "drafting"] | None = None


def test_deterministic_and_marked_simulated() -> None:
    a, b = SimulatedProvider(), SimulatedProvider()
    first, second = a.complete(ask()), b.complete(ask())
    assert (first.text, first.usage, first.request_id) == (second.text, second.usage,
                                                           second.request_id)
    assert first.mode == "simulated" and first.model == "claude-haiku-4-5"
    assert a.complete(ask(model="claude-opus-4-6")).text != first.text
    assert a.complete(ask("Another prompt")).text != first.text


def test_usage_is_realistic() -> None:
    request = ask()
    result = SimulatedProvider().complete(request)
    assert result.usage.input_tokens == estimate_tokens(
        messages=[{"content": "Summarize the queue health."}], system="You watch systems."
    )
    assert 30 <= result.usage.output_tokens <= 260
    assert result.usage.output_tokens == estimate_text_tokens(result.text)
    short = SimulatedProvider().complete(ask(max_tokens=5))
    assert short.usage.output_tokens <= 5 and short.stop_reason == "max_tokens"


def test_json_schema_request_gets_valid_json() -> None:
    system = "You review diffs.\n" + json_schema_block(Review.model_json_schema())
    for i in range(25):
        result = SimulatedProvider().complete(ask(f"diff number {i}", system=system))
        Review.model_validate(json.loads(result.text))
    again = SimulatedProvider().complete(ask("diff number 3", system=system))
    assert again.text == SimulatedProvider().complete(ask("diff number 3", system=system)).text


def test_schema_in_a_message_and_bad_blocks() -> None:
    block = json_schema_block({"type": "object", "properties": {"ok": {"const": True}}})
    request = ask("<json-schema>not json</json-schema>\n" + block, system=None)
    assert find_schema(request) is not None
    assert json.loads(SimulatedProvider().complete(request).text) == {"ok": True}
    assert find_schema(ask()) is None


def test_schema_instance_covers_common_shapes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "n": {"type": "integer", "exclusiveMinimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 3,
                     "uniqueItems": True},
            "either": {"anyOf": [{"type": "null"}, {"type": "number", "minimum": 5}]},
        },
    }
    value = schema_instance(schema, 7)
    assert value["when"] == "2025-01-01T00:00:00Z" and value["n"] == 1
    assert sorted(value["tags"]) == ["a", "b", "c"] and value["either"] >= 5


def test_prompt_cache_write_then_read() -> None:
    system = "x" * (MIN_CACHE_TOKENS * 4)
    provider = SimulatedProvider()
    first = provider.complete(ask(system=system, cache=True))
    second = provider.complete(ask(system=system, cache=True))
    assert first.usage.cache_write_tokens == MIN_CACHE_TOKENS == second.usage.cache_read_tokens
    assert first.usage.input_tokens == second.usage.input_tokens == estimate_tokens(
        messages=[{"content": "Summarize the queue health."}]
    )
    uncached = provider.complete(ask(system=system))
    assert uncached.usage.cache_read_tokens == 0 == uncached.usage.cache_write_tokens


def test_latency_is_applied() -> None:
    started = time.perf_counter()
    result = SimulatedProvider(latency=0.2).complete(ask())
    assert time.perf_counter() - started >= 0.2 and result.latency_s >= 0.2


def test_thread_safe_and_identical_across_threads() -> None:
    provider = SimulatedProvider()
    results: list[Completion] = []
    lock = threading.Lock()

    def run() -> None:
        out = provider.complete(ask(system="s" * 5000, cache=True))
        with lock:
            results.append(out)

    threads = [threading.Thread(target=run) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.text for r in results}) == 1
    assert sum(r.usage.cache_write_tokens > 0 for r in results) == 1


# -- error rates: the share of typed answers that disagree with a correct model's -------

def _typed_inputs(kind: str, n: int) -> list[dict[str, object]]:
    """`n` distinct inputs of a typed task (the kind's usual shape, numbered)."""
    if kind == "classification":
        return [{"text": f"ticket {i}: the export button does nothing",
                 "labels": ["billing", "bug", "feature_request", "question"]}
                for i in range(n)]
    if kind == "code_review":
        return [{"diff": f"--- a/f{i}.py\n+++ b/f{i}.py\n@@ -1 +1 @@\n-x = {i}\n+x = {i + 1}\n"}
                for i in range(n)]
    if kind == "monitoring":
        return [{"source": "the llm.haiku queue",
                 "observations": [f"depth {i}", f"errors last hour: {i % 7}"]}
                for i in range(n)]
    assert kind == "content_curation"
    return [{"topic": f"topic {i}", "max_selected": 2,
             "items": [{"id": f"item-{i}-{j}", "title": f"title {j}", "text": "some text"}
                       for j in range(6)]} for i in range(n)]


@pytest.mark.parametrize(("kind", "rate"), [
    ("classification", 0.2), ("classification", 0.02), ("code_review", 0.2),
    ("monitoring", 0.2), ("content_curation", 0.5),
])
def test_an_error_rate_is_the_share_of_typed_answers_that_disagree(
    kind: str, rate: float
) -> None:
    # Production (no error rate) against a candidate with `rate`, compared as a shadow
    # trial compares them (the task's own parsing and decision fields), on 2,000 inputs
    from routing.config.defaults import default_config
    from tasks.kinds import KINDS

    spec = {k.name: k for k in KINDS}[f"tasks.{kind}"]
    cfg = default_config()
    provider = SimulatedProvider(error_rates={"kimi-for-coding": rate})
    verdicts: dict[str, int] = {}
    inputs = _typed_inputs(kind, 2000)
    for kwargs in inputs:
        call = spec.parse(dict(kwargs), cfg)
        answers = [spec.parse_output(provider.complete(CompletionRequest(
            model=model, messages=call.messages, max_tokens=1024,
            system=call.system_for(native=False))).text,
            call, cfg) for model in ("claude-haiku-4-5", "kimi-for-coding")]
        comparison = spec.compare(answers[0], answers[1])
        assert comparison is not None
        verdicts[comparison.verdict] = verdicts.get(comparison.verdict, 0) + 1
    agreement = verdicts.get("agree", 0) / len(inputs)
    assert verdicts.get("candidate_invalid", 0) == 0
    assert abs(agreement - (1 - rate)) <= 0.02, (agreement, verdicts)


def test_error_rates_that_name_no_model_are_found() -> None:
    from routing.config.defaults import default_config
    from routing.config.load import load_config
    from workers.providers.simulated import error_rate_problems

    models = default_config().models
    assert error_rate_problems({"kimi-for-coding": 0.02}, models, simulated=True) == []
    (unknown,) = error_rate_problems({"nosuchmodel": 0.1, "gpt-4o": 0.2}, models,
                                     simulated=True)
    assert unknown.startswith("'nosuchmodel' is no model of the routing config")
    # a catalog name whose provider model differs: rates go by the provider model id
    renamed = default_config().document()
    renamed["models"]["gpt-4o"]["provider_model"] = "gpt-4o-2024-08-06"
    (problem,) = error_rate_problems({"gpt-4o": 0.2}, load_config(renamed).models,
                                     simulated=True)
    assert "write gpt-4o-2024-08-06=0.2" in problem
    (live,) = error_rate_problems({"gpt-4o": 0.2}, models, simulated=False)
    assert "LLM_ROUTER_PROVIDER_MODE is live" in live


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_a_format_error_rate_breaks_the_prompt_convention_only(rate: float) -> None:
    # The same 2,000 typed calls, asked natively (request.output) and by the prompt
    # convention (the schema in the system prompt): only the latter loses the format, at
    # about `rate`, and both give the same (right) answer otherwise
    from routing.config.defaults import default_config
    from tasks.kinds import KINDS
    from workers.errors import OutputInvalidError

    spec = {k.name: k for k in KINDS}["tasks.classification"]
    cfg = default_config()
    provider = SimulatedProvider(format_error_rate=rate)
    invalid = {"native": 0, "prompt": 0}
    inputs = _typed_inputs("classification", 2000)
    for kwargs in inputs:
        call = spec.parse(dict(kwargs), cfg)
        answers = {}
        for mode in invalid:
            native = mode == "native"
            completion = provider.complete(CompletionRequest(
                model="claude-haiku-4-5", messages=call.messages, max_tokens=1024,
                system=call.system_for(native=native), output=call.output if native else None))
            try:
                answers[mode] = spec.parse_output(completion.text, call, cfg)
            except OutputInvalidError:
                invalid[mode] += 1
        if len(answers) == 2:
            assert answers["native"] == answers["prompt"]
    assert invalid["native"] == 0
    assert abs(invalid["prompt"] / len(inputs) - rate) <= 0.03, invalid


def test_the_format_error_rate_setting_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.errors import SettingsError
    from workers.settings import Settings, get_settings

    variable = "LLM_ROUTER_SIMULATED_FORMAT_ERROR_RATE"
    assert Settings(**{variable: "0.2"}).simulated_format_error_rate == 0.2
    monkeypatch.setenv(variable, "1.5")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as refused:
            get_settings()
    finally:
        monkeypatch.delenv(variable)
        get_settings.cache_clear()
    assert refused.value.variables == [variable]
    assert str(refused.value).startswith(f"{variable}='1.5': ")
