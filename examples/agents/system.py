"""The agents, one request end to end, and the run's cost against all on one model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery, group

from routing.config.models import RoutingConfig
from routing.prices.pricing import Usage, cost_micros
from routing.spend.runs import RunBook
from workers.attribution import attributed

SAMPLE_REPO = Path(__file__).resolve().parent / "sample_repo"
# Which kind of work each agent asks for (model keys: the config maps them to models).
AGENTS = {"ceo": "strategic_decision", "orchestrator": "orchestration",
          "coder": "code_generation", "reviewer": "code_review"}
# (in-process workers make Celery think this thread runs a task: it is the producer)
WAIT: dict[str, Any] = {"timeout": 120, "disable_sync_subtasks": False}


@dataclass
class Step:
    agent: str
    what: str
    model: str
    cost_micros: int
    text: str


@dataclass
class RunOutcome:
    run_id: str
    request: str
    approved: bool
    steps: list[Step] = field(default_factory=list)


def repo_files(root: Path = SAMPLE_REPO) -> dict[str, str]:
    """The sample repository's source files (path -> text): what the coders work on."""
    return {str(p.relative_to(root)): p.read_text("utf-8")
            for p in sorted(root.rglob("*.py")) if p.name != "__init__.py"}


def _ask(app: Celery, agent: str, prompt: str, **extra: Any) -> Any:
    return app.signature("llm.run", kwargs={"model_key": AGENTS[agent], "prompt": prompt,
                                            "agent": agent, **extra}, immutable=True)


def _step(agent: str, what: str, result: dict[str, Any]) -> Step:
    return Step(agent, what, result["model"], int(result["cost_micros"]), result["text"])


def handle(app: Celery, request: str, *, run_id: str | None = None,
           run_max_usd: float | None = None) -> RunOutcome:
    """One request through the agents, every call in one run."""
    run_id = run_id or f"req-{uuid.uuid4().hex[:10]}"
    files = repo_files()
    out = RunOutcome(run_id, request, approved=False)
    with attributed(run_id=run_id, run_max_usd=run_max_usd, tags={"example": "agents"}):
        brief = _ask(app, "ceo", f"A user asks: {request}\nDecide whether to take it on and "
                     "state the outcome that matters in two sentences.").delay().get(**WAIT)
        out.steps.append(_step("ceo", "takes the request", brief))
        plan = _ask(app, "orchestrator", f"Goal: {brief['text'][:600]}\nFiles: "
                    f"{', '.join(files)}\nPlan the change per file.").delay().get(**WAIT)
        out.steps.append(_step("orchestrator", "plans it", plan))
        patches = group(_ask(app, "coder", f"Plan: {plan['text'][:600]}\nFile {name}:\n"
                             f"```python\n{text}```\nPropose a patch (unified diff).")
                        for name, text in files.items()).apply_async().get(**WAIT)
        for name, patch in zip(files, patches, strict=True):
            out.steps.append(_step("coder", f"patches {name}", patch))
        joined = "\n\n".join(p["text"][:800] for p in patches)
        review = _ask(app, "reviewer", f"Review these patches:\n{joined}").delay().get(**WAIT)
        out.steps.append(_step("reviewer", "reviews the patches", review))
        verdict = _ask(app, "ceo", f"Request: {request}\nReview: {review['text'][:800]}\n"
                       "Is this good enough to show the human? Answer YES or NO first."
                       ).delay().get(**WAIT)
        out.steps.append(_step("ceo", "decides: show the human?", verdict))
    out.approved = not verdict["text"].strip().upper().startswith("NO")
    return out


@dataclass
class RunCost:
    run_id: str
    per_agent: dict[str, tuple[int, int]]  # agent -> (calls, micros)
    per_model: dict[str, tuple[int, int]]  # model -> (calls, micros)
    total_micros: int
    single_model: str
    single_model_micros: int  # the same calls' tokens, all on `single_model`

    @property
    def ratio(self) -> float:
        return self.single_model_micros / self.total_micros if self.total_micros else 0.0


def run_cost(book: RunBook, config: RoutingConfig, run_id: str) -> RunCost:
    """The run's cost per agent and per model from the ledger, against the same calls all
    on the model of `strategic_decision` (Opus in the shipped config), at the config's
    prices."""
    run = book.show(run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    single = config.model_keys["strategic_decision"].model
    price = config.price_of(single)
    per_agent: dict[str, tuple[int, int]] = {}
    per_model: dict[str, tuple[int, int]] = {}
    total = counterfactual = 0
    for call in run.calls:
        if call.get("trial"):
            continue
        micros = int(call.get("cost_micros") or 0)
        total += micros
        for table, name in ((per_agent, str(call.get("agent") or "-")),
                            (per_model, str(call["model"]))):
            calls, spent = table.get(name, (0, 0))
            table[name] = (calls + 1, spent + micros)
        usage = Usage(**{k: int(call.get(k) or 0) for k in (
            "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")})
        counterfactual += cost_micros(usage, price)
    return RunCost(run_id, per_agent, per_model, total, single, counterfactual)


def render(outcome: RunOutcome, cost: RunCost) -> str:
    lines = [f"request: {outcome.request}", f"run: {outcome.run_id}", ""]
    for s in outcome.steps:
        lines.append(f"  {s.agent:<12} {s.what:<28} {s.model:<20} ${s.cost_micros / 1e6:.6f}"
                     f"  {s.text[:60]!r}")
    lines += ["", f"decision: {'show the human' if outcome.approved else 'not yet'}", "",
              "cost per agent:"]
    for agent, (calls, micros) in sorted(cost.per_agent.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"  {agent:<12} {calls:>3} calls  ${micros / 1e6:.6f}")
    lines.append("cost per model:")
    for model, (calls, micros) in sorted(cost.per_model.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"  {model:<20} {calls:>3} calls  ${micros / 1e6:.6f}")
    lines += [f"run total: ${cost.total_micros / 1e6:.6f}",
              f"the same calls all on {cost.single_model}: ${cost.single_model_micros / 1e6:.6f}"
              f" ({cost.ratio:.1f}x the routed run)"]
    return "\n".join(lines)


def runaway(app: Celery, *, run_max_usd: float, limit: int = 1000) -> tuple[str, int, str]:
    """A coder stuck in a loop (it keeps asking): its run's cap ends it. Returns the run
    id, the calls it got, and the refusal it met."""
    from celery.exceptions import CeleryError

    run_id = f"loop-{uuid.uuid4().hex[:10]}"
    with attributed(agent="coder", run_id=run_id, run_max_usd=run_max_usd):
        for made in range(limit):
            try:
                _ask(app, "coder", "Try the fix once more.", max_tokens=256).delay().get(**WAIT)
            except (CeleryError, Exception) as exc:  # the task's RunBudgetExceeded
                if type(exc).__name__ != "RunBudgetExceeded":
                    raise
                return run_id, made, str(exc)
    return run_id, limit, ""
