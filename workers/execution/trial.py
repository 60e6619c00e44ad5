"""A shadow trial: one sampled production call replayed on a candidate model, and scored.

The production task has finished (its result stored, its caller served) and reserved the
shadow's worst case in the trial's own budget; this runs on the candidate's tier worker:
- one call of the candidate (no retry, no fallback, no escalation: a failure is recorded
  as a candidate error and that is all);
- the call is settled in the trial ledger under the trial budget, never production spend;
- the candidate's output is validated like a production one (invalid -> candidate_invalid)
  and compared with the production output (`WorkSpec.compare`); free text is compared by
  the trial's judge model key when it has one ("same answer? yes/no + reason"), else it
  is recorded as unjudged (cost, latency and validity only);
- the scores (and the paired production/candidate latency and cost) go to the trial's day
  aggregates, from which `llm-router review` works.
A sample is paid and scored in one step: the candidate's call is settled together with
its scores (one EVALSHA, `CallRecord.scores`), after the comparison and the judge, so no
failure can leave it paid and unscored. A re-delivered `llm.trial` (its worker died, or
the message came twice) whose call was settled already makes no call and counts
`replayed`. Before calling, a delivery claims the call id in the ledger (one SET NX, held
for the reservation's lifetime): of two deliveries at once, one calls, settles and
scores, the other makes no call and counts `replayed`: called once, replayed once,
scored once. A delivery whose worker died after claiming is not replayed: the sample is
dropped, its reservation charged at its bound when it expires (a sample, not a task).

`score` is the one scoring of a candidate's answer: a replay of a recorded sample
(`workers.execution.replay`) scores with it too, into the same trial row under its own
counters (`replay_*`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.attribution import Attribution
from routing.attribution import split as split_attribution
from routing.config.models import RoutingConfig
from routing.errors import BudgetExceededError
from routing.prices.pricing import Usage, cost_micros, worst_case_micros
from routing.router import lacking
from routing.spend.budget_names import trial_budget
from routing.spend.call_record import CallRecord, Outcome
from routing.spend.ledger import Settlement
from workers.contract import Call, Comparison, Message, WorkSpec, json_schema_block
from workers.errors import OutputInvalidError
from workers.execution.runtime import Runtime
from workers.providers.base import Completion, CompletionRequest
from workers.providers.errors import ProviderError
from workers.turns import ToolCall

log = logging.getLogger(__name__)

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"same": {"type": "boolean"}, "reason": {"type": "string", "minLength": 1}},
    "required": ["same", "reason"],
}
JUDGE_INSTRUCTION = (
    "Two answers were given to the same request. Say whether they give the same answer "
    "in substance (the same facts, decision or result; wording may differ), and why."
)
JUDGE_MAX_TOKENS = 256


@dataclass(frozen=True, slots=True)
class TrialJob:
    """What the production worker hands on: the task's input and its answer."""

    task_id: str  # the production task
    model_key: str
    candidate: str
    call_id: str  # the reservation made in the trial budget
    kwargs: dict[str, Any]  # the production task's input
    output: dict[str, Any]  # its parsed output (typed tasks) ...
    text: str  # ... and its text
    latency_ms: float  # its provider time, and its cost: for paired ratios
    cost_micros: int
    # the production task's agent, run and tags: the trial's spend is theirs, as trial spend
    attribution: Attribution = field(default_factory=Attribution)
    tool_calls: list[dict[str, Any]] | None = None  # its tool calls (an agent turn)


@dataclass(frozen=True, slots=True)
class Production:
    """The production answer a candidate is weighed against (a live task's, or a recorded
    sample's): its parsed output (typed tasks), text, provider time and cost."""

    output: dict[str, Any]
    text: str
    latency_ms: float
    cost_micros: int
    tool_calls: list[dict[str, Any]] | None = None  # its tool calls (an agent turn)


@dataclass(frozen=True, slots=True)
class Scored:
    """A candidate's answer scored against production: the verdict (`unjudged`: free
    text and no judge), what differs, and the counters the sample adds to the trial."""

    verdict: str
    valid: bool
    differs: tuple[str, ...]
    scores: dict[str, int]


def score(spec: WorkSpec, cfg: RoutingConfig, call: Call, production: Production,
          completion: Completion, cost: int,
          judge: Callable[[], Comparison | None] | None) -> Scored:
    """The one scoring of a candidate's answer, live trials and replays alike: validated
    like a production output (invalid -> candidate_invalid), compared with production
    (`WorkSpec.compare`), an agent turn on its decisions (the tools called and their
    arguments), free text by the `judge` when there is one."""
    output: dict[str, Any] | None
    try:
        output = spec.parse_output(completion.text, call, cfg)
    except OutputInvalidError:
        output = None
    comparison = spec.compare(production.output, output)
    tool_turn = bool(call.tools)
    if comparison is None and tool_turn:
        comparison = compare_decisions(production.tool_calls or [], completion.tool_calls)
    if comparison is None and judge is not None:
        comparison = judge()
    verdict = comparison.verdict if comparison is not None else "unjudged"
    scores = {verdict: 1, "prod_latency_ms": round(production.latency_ms),
              "cand_latency_ms": round(completion.latency_s * 1000),
              "prod_micros": production.cost_micros, "cand_micros": cost}
    if comparison is not None:
        scores["samples"] = 1
        if tool_turn:  # agent turns apart from text turns (the review shows both)
            scores["tool_samples"] = 1
            scores["tool_agree"] = int(comparison.agrees)
    return Scored(verdict, output is not None, comparison.fields if comparison else (),
                  scores)


def run_trial(spec: WorkSpec, job: TrialJob, rt: Runtime) -> dict[str, Any]:
    cfg = rt.router.config
    key = cfg.model_keys.get(job.model_key)
    trial = next((t for t in key.trials if t.candidate == job.candidate), None) if key else None
    if key is None or trial is None or job.candidate not in cfg.models:
        # The trial ended since the sample was taken; its reservation expires unused.
        return {"skipped": f"no trial of {job.candidate} on {job.model_key} any more"}
    call = spec.parse(split_attribution(job.kwargs)[0], cfg)
    lacks = lacking(cfg, job.candidate, call.needs)
    if lacks is not None:
        # (a call's own needs, tools or images: the candidate cannot take this one; its
        # reservation expires unused)
        return {"skipped": f"{job.candidate} {lacks}: it cannot take this call"}
    model = cfg.models[job.candidate]
    request = candidate_request(rt, cfg, call, job.model_key, job.candidate)
    price = cfg.price_of(job.candidate)
    record = Recorder(rt, cfg, (job.model_key, job.candidate, model.tier), job.task_id,
                      job.call_id, attribution=job.attribution)
    if rt.ledger.settled(job.call_id):
        # a re-delivery of a trial that ran: its call was paid and scored once already
        record.scores({"replayed": 1})
        return {"candidate": job.candidate, "skipped": "scored already (a re-delivery)"}
    if not rt.ledger.claim(job.call_id, uuid.uuid4().hex, int(rt.budgets.reservation_ttl)):
        # another delivery holds the call (one SET NX): it calls, settles and scores it
        record.scores({"replayed": 1})
        return {"candidate": job.candidate, "skipped": "claimed by another delivery"}
    try:
        completion = rt.providers.for_model(model).complete(request)
    except ProviderError as exc:
        if record.call(Usage(), 0, error=type(exc).__name__,
                       scores={"candidate_errors": 1}).duplicate:
            return {"candidate": job.candidate, "skipped": "scored by another delivery"}
        return {"candidate": job.candidate, "error": type(exc).__name__}
    cost = cost_micros(completion.usage, price)
    production = Production(job.output, job.text, job.latency_ms, job.cost_micros,
                            job.tool_calls)
    scored = score(spec, cfg, call, production, completion, cost,
                   judge_of(rt, cfg, trial.judge, call, production, completion, record))
    if record.call(completion.usage, cost, invalid=not scored.valid,
                   latency_ms=completion.latency_s * 1000, scores=scored.scores).duplicate:
        # another delivery of this trial settled (and scored) its call first
        return {"candidate": job.candidate, "skipped": "scored by another delivery"}
    return {"candidate": job.candidate, "verdict": scored.verdict, "cost_micros": cost,
            "differs": list(scored.differs)}


def candidate_request(rt: Runtime, cfg: RoutingConfig, call: Call, model_key: str,
                      candidate: str) -> CompletionRequest:
    """The call as the candidate is asked it: the key's settings, the candidate's limits."""
    key = cfg.model_keys[model_key]
    model = cfg.models[candidate]
    native = call.native_output(cfg, candidate)
    return CompletionRequest(
        model=model.provider_model, messages=call.messages,
        max_tokens=min(call.max_tokens or key.max_tokens, model.max_output_tokens),
        system=call.system_for(native=native is not None), output=native,
        cache_system=key.prompt_cache,
        timeout=min(rt.settings.request_timeout, cfg.tiers[model.tier].task_timeout_seconds),
        tools=call.tools, tool_choice=call.tool_choice,
    )


def judge_of(rt: Runtime, cfg: RoutingConfig, judge_key: str | None, call: Call,
             production: Production, candidate: Completion,
             record: Recorder) -> Callable[[], Comparison | None] | None:
    """The trial's judge of two free-text answers (None: the trial has none)."""
    if judge_key is None:
        return None
    return lambda: _judged(rt, cfg, call, production.text, candidate, judge_key, record)


def decision(calls: Iterable[ToolCall | Mapping[str, Any]]) -> list[tuple[str, str]]:
    """A turn's decision: each tool called with its arguments as normalised JSON (keys
    sorted), in order."""
    out = []
    for c in calls:
        name, args = (c.name, c.arguments) if isinstance(c, ToolCall) else \
            (str(c.get("name")), c.get("arguments") or {})
        out.append((name, json.dumps(args, sort_keys=True, separators=(",", ":"))))
    return out


def compare_decisions(production: list[dict[str, Any]],
                      candidate: tuple[ToolCall, ...]) -> Comparison | None:
    """Two answers to an agent turn, on their decisions: the same tools with the same
    arguments agree; a tool against another (or against text) disagrees; None when
    neither called a tool (the text decides: the judge compares it)."""
    if not production and not candidate:
        return None
    ours, theirs = decision(production), decision(candidate)
    if ours == theirs:
        return Comparison("agree")
    differs = ("tool_calls",) if [n for n, _ in ours] != [n for n, _ in theirs] else \
        ("arguments",)
    return Comparison("disagree", differs)


def _judged(
    rt: Runtime, cfg: RoutingConfig, call: Call, production_text: str, candidate: Completion,
    judge_key: str, record: Recorder,
) -> Comparison | None:
    """The judge's verdict on two free-text answers, or None if it could not say."""
    spec = cfg.model_keys.get(judge_key)
    if spec is None:
        return None
    model = cfg.models[spec.model]
    asked = "\n\n".join(f"{m.role}: {m.content}" for m in call.messages)
    prompt = (f"The request:\n{asked}\n\nAnswer A:\n{production_text}\n\n"
              f"Answer B:\n{candidate.text}")
    request = CompletionRequest(
        model=model.provider_model, messages=(Message("user", prompt),),
        max_tokens=JUDGE_MAX_TOKENS,
        system=f"{JUDGE_INSTRUCTION}\n\n{json_schema_block(JUDGE_SCHEMA)}",
        timeout=min(rt.settings.request_timeout, cfg.tiers[model.tier].task_timeout_seconds),
    )
    price = cfg.price_of(spec.model)
    call_id = f"{record.call_id}:judge"
    needed = worst_case_micros(len(prompt) // 4 + 64, JUDGE_MAX_TOKENS, price)
    model_key, candidate_model, _ = record.row
    try:
        reservation = rt.budgets.reserve_trial(cfg, model_key, candidate_model, call_id,
                                               needed)
    except BudgetExceededError:
        return None
    if reservation.duplicate:
        return None
    try:
        completion = rt.providers.for_model(model).complete(request)
    except ProviderError as exc:
        record.call(Usage(), 0, error=type(exc).__name__, call_id=call_id, judge=True)
        return None
    record.call(completion.usage, cost_micros(completion.usage, price), call_id=call_id,
                judge=True, latency_ms=completion.latency_s * 1000)
    try:
        start, end = completion.text.find("{"), completion.text.rfind("}")
        verdict = json.loads(completion.text[start:end + 1])
        same = verdict["same"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(same, bool):
        return None
    return Comparison("agree") if same else Comparison("disagree", ("text",))


class Recorder:
    """A trial's calls and scores, in the trial ledger (never production spend). A replay
    (`prefix` `replay_`) keeps its scores apart: the same row, its own counters."""

    def __init__(self, rt: Runtime, cfg: RoutingConfig, row: tuple[str, str, str],
                 task_id: str, call_id: str, *, prefix: str = "",
                 attribution: Attribution | None = None) -> None:
        self.rt, self.cfg, self.row = rt, cfg, row
        self.task_id, self.call_id, self.prefix = task_id, call_id, prefix
        # the production task's agent, run and tags: the trial's spend is theirs, as trial
        # spend
        self.attribution = attribution or Attribution()

    def call(self, usage: Usage, cost: int, *, error: str | None = None, invalid: bool = False,
             latency_ms: float | None = None, call_id: str | None = None,
             judge: bool = False, scores: dict[str, int] | None = None,
             batch_id: str | None = None, direct_micros: int | None = None) -> Settlement:
        """Settle one call of the trial with its `scores`, in one step; `duplicate`: that
        call id was settled already, and the step counted `replayed` instead (the
        sample's own call; a judge's repeat counts nothing)."""
        key, candidate, tier = self.row
        return self.rt.ledger.settle(
            CallRecord(
                task_id=self.task_id, call_id=call_id or self.call_id, model_key=key,
                model=candidate, tier=tier, usage=usage, cost_micros=cost,
                config_version=self.cfg.version,
                outcome=Outcome.ok if error is None else Outcome.error, error=error,
                invalid=invalid, latency_ms=latency_ms, trial=True, judge=judge,
                budgets=(trial_budget(key, candidate),),
                scores=tuple((self.prefix + k, n) for k, n in (scores or {}).items()),
                batch_id=batch_id, direct_micros=direct_micros,
                attribution=self.attribution, hop="judge" if judge else "trial",
            ),
            window_seconds=self.cfg.budgets.window_seconds,
            on_duplicate=None if judge else {"replayed": 1},
        )

    def scores(self, increments: dict[str, int]) -> None:
        self.rt.ledger.count(self.row, increments, trial=True)
