"""A replay: recorded samples of a model key (`routing.samples`) asked again of a trial
candidate, on the candidate's tier worker, and scored exactly as a live trial
(`workers.execution.trial.score`).

- Each sample is claimed once, atomically: its call id (`replay_call_id`) is reserved in
  the trial's own budget before the candidate is asked (the ledger's reservation, one
  EVALSHA). A sample claimed already (replayed, in flight, or claimed by a worker that
  died: charged at its reserved bound when the hold expires) is never asked again, so a
  resumed replay never pays twice for a sample. A sample the key's live trial already
  scored is skipped too.
- A budget refusal stops the replay where it is (`stopped`); run it again later to go on.
- Direct (`replay_direct`): one call per sample at the direct price. Batch
  (`replay_batch`): the claimed samples go into one provider batch at the batch price;
  the task polls it by re-publishing itself (`ReplayPendingError`), and scores every
  answer once it is over. The batch's id is kept under the replay's id, so a
  redelivered task polls the same batch instead of submitting another.
- Scores land in the trial row of (key, candidate) under `replay_*` counters, apart from
  the live trial's; the spend is trial spend, never production.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from routing.config.kinds import BATCH_PROVIDERS
from routing.config.models import RoutingConfig
from routing.decode import text
from routing.errors import BudgetExceededError
from routing.prices.pricing import Usage, cost_micros, worst_case_micros
from workers.contract import Call, WorkSpec
from workers.errors import ReplayPendingError
from workers.execution.runtime import Runtime
from workers.execution.trial import (
    Production,
    Recorder,
    candidate_request,
    judge_of,
    score,
)
from workers.providers.base import Completion, CompletionRequest
from workers.providers.batch import BatchItem
from workers.providers.errors import ProviderError

log = logging.getLogger(__name__)

PREFIX = "replay_"
BATCH_LABEL = "llm-router-replay"
# A batched sample's hold: the provider's 24 hours, and an hour to collect the answers.
BATCH_HOLD_SECONDS = 25 * 3600.0
# Restore a sample into the task's spec and call (the task layer knows the specs).
Restore = Callable[[dict[str, Any]], tuple[WorkSpec, Call]]


@dataclass(frozen=True, slots=True)
class ReplayJob:
    replay_id: str
    model_key: str
    candidate: str
    sample_ids: tuple[str, ...]
    batch: bool


def replay_call_id(sample_id: str, candidate: str) -> str:
    return f"replay:{sample_id}:{candidate}"


def batch_available(cfg: RoutingConfig, candidate: str) -> bool:
    """Whether the candidate's provider has a batch API and the candidate a batch price."""
    model = cfg.models.get(candidate)
    return (model is not None and model.provider in BATCH_PROVIDERS and model.price is not None
            and bool(model.price.batch_discount))


def refusal(cfg: RoutingConfig, model_key: str, candidate: str) -> str | None:
    """Why (`model_key`, `candidate`) cannot be replayed under `cfg`, or None."""
    key = cfg.model_keys.get(model_key)
    if key is None:
        return f"unknown model key '{model_key}'"
    if candidate not in cfg.models:
        return f"unknown model '{candidate}'"
    if not any(t.candidate == candidate for t in key.trials):
        return (f"model_keys.{model_key}.trials: no trial of '{candidate}' (its budget pays "
                "the replay): add one, e.g. `llm-router review --candidates --add`")
    return None


def production_of(sample: dict[str, Any]) -> Production:
    answer = sample.get("answer") or {}
    return Production(answer.get("output") or {}, str(answer.get("text") or ""),
                      float(sample.get("latency_ms") or 0.0), int(sample.get("cost_micros") or 0),
                      list(answer.get("tool_calls") or []))


class _Replay:
    def __init__(self, rt: Runtime, job: ReplayJob, restore: Restore) -> None:
        self.rt, self.job, self.restore = rt, job, restore
        self.cfg = rt.router.config
        model = self.cfg.models[job.candidate]
        self.model = model
        self.row = (job.model_key, job.candidate, model.tier)
        self.price = self.cfg.price_of(job.candidate)

    def recorder(self, sample_id: str) -> Recorder:
        return Recorder(self.rt, self.cfg, self.row, sample_id,
                        replay_call_id(sample_id, self.job.candidate), prefix=PREFIX)

    def claim(self, sample_id: str, *, batch: bool,
              outcomes: list[dict[str, Any]]) -> tuple[dict[str, Any], WorkSpec, Call,
                                                       CompletionRequest] | None:
        """Claim `sample_id` (reserve its worst case in the trial budget); None, and its
        outcome noted, when it is not to be asked (gone, done, claimed, too large, or the
        budget is spent: `BudgetExceededError` is raised for that)."""
        job, rt = self.job, self.rt
        sample = rt.samples.load(job.model_key, sample_id)
        if sample is None:
            outcomes.append({"sample": sample_id, "skipped": "no longer recorded"})
            return None
        call_id = replay_call_id(sample_id, job.candidate)
        if rt.ledger.settled(f"trial:{sample_id}:{job.candidate}"):
            outcomes.append({"sample": sample_id, "skipped": "scored by the live trial"})
            return None
        spec, call = self.restore(sample)
        request = candidate_request(rt, self.cfg, call, job.model_key, job.candidate)
        if call.input_tokens + request.max_tokens > self.model.context_window:
            outcomes.append({"sample": sample_id, "skipped": "does not fit the candidate's "
                             "context window"})
            return None
        worst = worst_case_micros(call.input_tokens, request.max_tokens, self.price,
                                  batch=batch)
        held = rt.budgets.reserve_trial(self.cfg, job.model_key, job.candidate, call_id, worst,
                                        ttl=BATCH_HOLD_SECONDS if batch else None)
        if held.duplicate:
            outcomes.append({"sample": sample_id, "skipped": "claimed already (replayed, "
                             "or in flight): never asked twice"})
            return None
        return sample, spec, call, request

    def scored(self, sample: dict[str, Any], spec: WorkSpec, call: Call,
               completion: Completion, *, batch_id: str | None = None) -> dict[str, Any]:
        """Score the candidate's answer and settle it with its scores, in one step."""
        sample_id = str(sample["id"])
        record = self.recorder(sample_id)
        cost = cost_micros(completion.usage, self.price, batch=batch_id is not None)
        production = production_of(sample)
        trial = next(t for t in self.cfg.model_keys[self.job.model_key].trials
                     if t.candidate == self.job.candidate)
        result = score(spec, self.cfg, call, production, completion, cost,
                       judge_of(self.rt, self.cfg, trial.judge, call, production, completion,
                                record))
        extra: dict[str, Any] = {}
        if batch_id is not None:
            extra = {"batch_id": batch_id,
                     "direct_micros": cost_micros(completion.usage, self.price)}
        settled = record.call(completion.usage, cost, invalid=not result.valid,
                              latency_ms=None if batch_id else completion.latency_s * 1000,
                              scores=result.scores, **extra)
        if settled.duplicate:
            return {"sample": sample_id, "skipped": "scored already"}
        return {"sample": sample_id, "verdict": result.verdict, "cost_micros": cost,
                "differs": list(result.differs)}

    def failed(self, sample_id: str, error: str, *,
               batch_id: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {} if batch_id is None else {"batch_id": batch_id,
                                                              "direct_micros": 0}
        self.recorder(sample_id).call(Usage(), 0, error=error,
                                      scores={"candidate_errors": 1}, **extra)
        return {"sample": sample_id, "error": error}


def summary(job: ReplayJob, outcomes: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"replay_id": job.replay_id, "model_key": job.model_key,
            "candidate": job.candidate, "batch": job.batch, "outcomes": outcomes, **more}


def replay_direct(rt: Runtime, job: ReplayJob, restore: Restore) -> dict[str, Any]:
    """Ask the candidate each sample of `job` in turn, at the direct price."""
    why = refusal(rt.router.config, job.model_key, job.candidate)
    if why is not None:
        return summary(job, [], refused=why)
    replay = _Replay(rt, job, restore)
    outcomes: list[dict[str, Any]] = []
    for sample_id in job.sample_ids:
        try:
            claimed = replay.claim(sample_id, batch=False, outcomes=outcomes)
        except BudgetExceededError as exc:
            return summary(job, outcomes, stopped=f"budget: {exc}")
        if claimed is None:
            continue
        sample, spec, call, request = claimed
        try:
            completion = rt.providers.for_model(replay.model).complete(request)
        except ProviderError as exc:
            outcomes.append(replay.failed(sample_id, type(exc).__name__))
            continue
        outcomes.append(replay.scored(sample, spec, call, completion))
    return summary(job, outcomes)


def _state_key(rt: Runtime, job: ReplayJob) -> str:
    index = rt.samples.keys(job.model_key)[0]
    return f"{index}:replay:{job.candidate}:{job.replay_id}"


def replay_batch(rt: Runtime, job: ReplayJob, restore: Restore) -> dict[str, Any]:
    """Claim `job`'s samples into one provider batch at the batch price (first run), then
    poll it (`ReplayPendingError` while it runs) and score each answer once it is over."""
    why = refusal(rt.router.config, job.model_key, job.candidate)
    if why is not None:
        return summary(job, [], refused=why)
    replay = _Replay(rt, job, restore)
    api = rt.providers.batches(str(replay.model.provider))
    state_key = _state_key(rt, job)
    state: dict[str, str] = {text(k): text(v) for k, v in rt.redis.hgetall(state_key).items()}
    outcomes: list[dict[str, Any]] = []
    stopped: str | None = None
    if "batch_id" not in state:
        claimed: list[tuple[dict[str, Any], WorkSpec, Call, CompletionRequest]] = []
        for sample_id in job.sample_ids:
            try:
                one = replay.claim(sample_id, batch=True, outcomes=outcomes)
            except BudgetExceededError as exc:
                stopped = f"budget: {exc}"
                break
            if one is not None:
                claimed.append(one)
        if not claimed:
            return summary(job, outcomes, **({"stopped": stopped} if stopped else {}))
        ids = [str(c[0]["id"]) for c in claimed]
        items = [BatchItem(f"r{i}", c[3]) for i, c in enumerate(claimed)]
        try:
            prepared = api.prepare(items, label=BATCH_LABEL)
            batch_id = api.create(items, prepared, label=BATCH_LABEL)
        except ProviderError as exc:
            outcomes += [replay.failed(i, type(exc).__name__) for i in ids]
            return summary(job, outcomes)
        state = {"batch_id": batch_id, "samples": json.dumps(ids),
                 "outcomes": json.dumps(outcomes), "stopped": stopped or ""}
        pipe = rt.redis.pipeline()
        pipe.hset(state_key, mapping={k: v for k, v in state.items()})
        pipe.expire(state_key, int(BATCH_HOLD_SECONDS) + 86_400)
        pipe.execute()
        log.info("replay %s: %d samples of %s in provider batch %s on %s", job.replay_id,
                 len(ids), job.model_key, batch_id, job.candidate)
    batch_id = state["batch_id"]
    status = api.status(batch_id)
    if not status.ended:
        raise ReplayPendingError(batch_id)
    ids = json.loads(state["samples"])
    outcomes = json.loads(state.get("outcomes") or "[]")
    by_custom: dict[str, tuple[dict[str, Any], WorkSpec, Call, CompletionRequest]] = {}
    items = []
    for i, sample_id in enumerate(ids):
        sample = rt.samples.load(job.model_key, sample_id)
        if sample is None:  # purged while in the batch: its hold expires at its bound
            outcomes.append({"sample": sample_id, "skipped": "purged during the batch"})
            continue
        spec, call = restore(sample)
        request = candidate_request(rt, replay.cfg, call, job.model_key, job.candidate)
        by_custom[f"r{i}"] = (sample, spec, call, request)
        items.append(BatchItem(f"r{i}", request))
    answered: set[str] = set()
    for result in api.results(status, items):
        if result.custom_id not in by_custom or result.custom_id in answered:
            continue
        answered.add(result.custom_id)
        sample, spec, call, _ = by_custom[result.custom_id]
        if result.completion is not None:
            outcomes.append(replay.scored(sample, spec, call, result.completion,
                                          batch_id=batch_id))
        else:
            error = (type(result.error).__name__ if result.error is not None
                     else f"Batch{(result.unprocessed or 'failed').title()}")
            outcomes.append(replay.failed(str(sample["id"]), error, batch_id=batch_id))
    for custom, (sample, *_rest) in by_custom.items():
        if custom not in answered:
            outcomes.append(replay.failed(str(sample["id"]), "BatchUnanswered",
                                          batch_id=batch_id))
    rt.redis.delete(state_key)
    more: dict[str, Any] = {"batch_id": batch_id}
    if state.get("stopped"):
        more["stopped"] = state["stopped"]
    return summary(job, outcomes, **more)
