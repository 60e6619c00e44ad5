"""The offline provider (`LLM_ROUTER_PROVIDER_MODE=simulated`): deterministic, no network.

Text: a function of (model, system, messages, output schema) only, seeded by their
SHA-256.
- With native structured output (`request.output`: what Anthropic's forced tool and
  OpenAI's strict `response_format` return), or if the system prompt or a message holds a
  JSON schema between `<json-schema>` and `</json-schema>`
  (`workers.contract.json_schema_block`, the prompt convention of typed tasks), the reply
  is a JSON document valid against that schema (see `schema_instance`);
  typed tasks that embed their output model's `model_json_schema()` this way are satisfied
  offline. Constraints that depend on the input (say, "one of these labels") must be in
  the schema (an `enum`) for the simulated reply to honour them. The answer is the
  input's: every model gives the same one, except that a model with an error rate
  (`error_rates`, LLM_ROUTER_SIMULATED_ERROR_RATES, by provider model id) gives a wrong
  one on that share of inputs (deterministically): every field takes another value than
  the right answer's where its schema allows one (another label, the other boolean, other
  ids), so on typed outputs the rate is the share of answers that disagree with a correct
  model's, and shadow trials measure agreement offline. The answer does not depend on
  the mechanism (it is seeded by the schema and the messages, not the system prompt).
  Under the prompt convention a share of replies (`format_error_rate`,
  LLM_ROUTER_SIMULATED_FORMAT_ERROR_RATE, deterministic on the request) is not valid
  JSON: the document cut in half, as a model that loses the format does; native
  structured output never is.
- A request with tools: an agent turn, answered by `simulated_tools.tool_turn` (a call of
  the tool the last user message names, or text once that tool's result is in).
- Otherwise a phrase of 30 to 249 estimated tokens, cut at `max_tokens`.

Usage: input tokens are `routing.tokens.estimate_tokens` of the request (plus its native
output schema's, which the providers count as input too, and tools, tool calls and
results, and images: `workers.turns.extra_tokens`). With
`cache_system` and a system prompt of at least `MIN_CACHE_TOKENS` tokens, the first call
for a (model, system) writes the cache (`cache_write_tokens`) and later calls within
`CACHE_TTL_S` read it (`cache_read_tokens`); those tokens are not in `input_tokens`.
Output tokens are the reply's estimated tokens, at most `max_tokens`.
Every completion says `mode="simulated"`. Thread-safe.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from routing.config.models import ModelSpec
from routing.prices.pricing import Usage
from routing.tokens import estimate_text_tokens, estimate_tokens
from workers.contract import find_schema as schema_in
from workers.providers.base import Completion, CompletionRequest
from workers.providers.schema_instance import WORDS, schema_instance, schema_instance_unlike
from workers.providers.simulated_tools import tool_turn
from workers.turns import ToolCall, extra_tokens, messages_to_json

MIN_CACHE_TOKENS = 1024
CACHE_TTL_S = 300.0


def find_schema(request: CompletionRequest) -> dict[str, Any] | None:
    """The last `<json-schema>` block of the request (system first, then messages)."""
    return schema_in((request.system or "", *(m.content for m in request.messages)))


def request_seed(request: CompletionRequest, *, with_model: bool = True) -> int:
    digest = hashlib.sha256()
    for part in (request.model if with_model else "", request.system or "",
                 *(f"{m.role}:{m.content}" if not m.blocks else
                   f"{m.role}:{json.dumps(messages_to_json((m,)), sort_keys=True)}"
                   for m in request.messages),
                 json.dumps(request.output.schema, sort_keys=True) if request.output else ""):
        digest.update(part.encode())
        digest.update(b"\0")
    return int.from_bytes(digest.digest()[:8], "big")


def answer_seed(request: CompletionRequest, schema: dict[str, Any]) -> int:
    """The seed of the input's right answer: the schema and the messages (not the model,
    nor the system prompt, which differs between native output and the prompt
    convention)."""
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode())
    for m in request.messages:
        digest.update(b"\0" + f"{m.role}:{m.content}".encode())
    return int.from_bytes(digest.digest()[:8], "big")


def _share(seed: int, salt: int) -> float:
    """A deterministic number in [0, 1) of `seed` (independent ones for other salts)."""
    return ((seed ^ salt) * 0x9E3779B97F4A7C15 % 2**64 % 1_000_003) / 1_000_003


def error_rate_problems(rates: Mapping[str, float], models: Mapping[str, ModelSpec],
                        *, simulated: bool) -> list[str]:
    """What is wrong with LLM_ROUTER_SIMULATED_ERROR_RATES against the config's models
    (rates are looked up by the model id a request names, its `provider_model`): each
    name that matches none, and every name when the provider mode is live."""
    if not rates:
        return []
    if not simulated:
        return [f"set, but LLM_ROUTER_PROVIDER_MODE is live: the rates of "
                f"{', '.join(sorted(rates))} apply to the simulated provider only"]
    ids = {spec.provider_model for spec in models.values()}
    problems = []
    for name in sorted(rates):
        if name in ids:
            continue
        if name in models:
            problems.append(f"'{name}' is the catalog name of provider model "
                            f"'{models[name].provider_model}': rates go by provider model, "
                            f"write {models[name].provider_model}={rates[name]:g}")
        else:
            problems.append(f"'{name}' is no model of the routing config, its rate is never "
                            f"used (models: {', '.join(sorted(ids))})")
    return problems


class SimulatedProvider:
    """`Provider` that never touches the network; see the module docstring."""

    name = "simulated"

    def __init__(
        self, *, latency: float = 0.0, error_rates: Mapping[str, float] | None = None,
        format_error_rate: float = 0.0,
    ) -> None:
        self.latency = latency
        self.error_rates = dict(error_rates or {})
        self.format_error_rate = format_error_rate
        self._lock = threading.Lock()
        self._cache: dict[str, float] = {}  # (model, system) digest -> expiry (monotonic)

    def __repr__(self) -> str:
        return (f"SimulatedProvider(latency={self.latency!r}, error_rates={self.error_rates!r}, "
                f"format_error_rate={self.format_error_rate!r})")

    def close(self) -> None:
        with self._lock:
            self._cache.clear()

    def complete(self, request: CompletionRequest) -> Completion:
        started = time.perf_counter()
        seed = request_seed(request)
        wrong = self._wrong(request, seed)
        turn = tool_turn(request.messages, request.tools, request.tool_choice, wrong=wrong)
        calls: tuple[ToolCall, ...] = ()
        if turn is not None:
            text, calls, stop = turn
        else:
            text, stop = self._text(request, seed, wrong, self._malformed(request, seed))
        out = estimate_text_tokens(text) + sum(
            estimate_text_tokens(json.dumps(c.arguments)) + 8 for c in calls)
        usage = Usage(output_tokens=min(out, request.max_tokens),
                      **self._input_usage(request))
        remaining = self.latency - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        return Completion(
            text=text,
            usage=usage,
            model=request.model,
            request_id=f"sim_{seed:016x}",
            latency_s=time.perf_counter() - started,
            mode="simulated",
            stop_reason=stop,
            tool_calls=calls,
        )

    def _wrong(self, request: CompletionRequest, seed: int) -> bool:
        """Whether the model answers this input wrongly (its error rate's share of inputs,
        chosen by the model's own seed)."""
        rate = self.error_rates.get(request.model, 0.0)
        return rate > 0 and (seed % 1_000_003) / 1_000_003 < rate

    def _malformed(self, request: CompletionRequest, seed: int) -> bool:
        """Whether a prompt-convention reply loses the format (never a native one)."""
        rate = self.format_error_rate
        return rate > 0 and request.output is None and _share(seed, 0x5EED) < rate

    @staticmethod
    def _text(request: CompletionRequest, seed: int, wrong: bool,
              malformed: bool) -> tuple[str, str]:
        native = request.output is not None
        schema = find_schema(request)
        if request.output is not None:
            # (keys sorted, as the prompt convention's block has them: the same answer)
            schema = json.loads(json.dumps(request.output.schema, sort_keys=True))
        if schema is not None:
            # The input's answer (every model's), or one unlike it in every field.
            # Never cut JSON (a truncated document would fail validation for no reason),
            # except to simulate a format error of the prompt convention.
            right = schema_instance(schema, answer_seed(request, schema))
            value = schema_instance_unlike(schema, seed, right) if wrong else right
            text = json.dumps(value)
            if malformed and not native:
                return text[: len(text) // 2], "end_turn"
            return text, "end_turn"
        rng = random.Random(seed)
        target = 30 + seed % 220
        words = [f"Simulated reply from {request.model}:"]
        while estimate_text_tokens(" ".join(words)) < target:
            words.append(rng.choice(WORDS))
        text = " ".join(words) + "."
        limit = request.max_tokens * 4  # the estimator's four characters per token
        if len(text) > limit:
            return text[:limit], "max_tokens"
        return text, "end_turn"

    def _input_usage(self, request: CompletionRequest) -> dict[str, int]:
        total = estimate_tokens(
            messages=[{"content": m.content} for m in request.messages], system=request.system
        ) + extra_tokens(request.messages, request.tools)
        if request.output is not None:
            # The providers count the output's schema (the forced tool's definition, the
            # response format) as input, as they count it in a system prompt.
            total += estimate_text_tokens(json.dumps(request.output.schema, sort_keys=True))
        system = estimate_text_tokens(request.system) if request.system else 0
        if not (request.cache_system and system >= MIN_CACHE_TOKENS):
            return {"input_tokens": total}
        key = hashlib.sha256(f"{request.model}\0{request.system}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key, 0.0) > now
            self._cache[key] = now + CACHE_TTL_S
        field = "cache_read_tokens" if hit else "cache_write_tokens"
        return {"input_tokens": total - system, field: system}
