"""Day aggregates of the ledger: what the counters in one day's hash add up to.

Production calls land in `{<ns>}:ledger:<day>:agg` and shadow-trial calls in
`{<ns>}:ledger:<day>:trial`, one hash field per `key|model|tier|metric` (for a trial row the
model is the candidate). Metrics are integers: counts, tokens, micro-dollars, summed
milliseconds; `err:<class>` counts provider errors by class and `lat:<i>` / `e2e:<i>` the
latency histogram buckets of `routing.spend.latency` (provider time per call, end to end per
finished task). A 30-day question is 30 small hashes, never a scan of call records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from routing.decode import text
from routing.prices.pricing import Usage
from routing.spend.latency import BUCKETS


def _histogram() -> list[int]:
    return [0] * BUCKETS


@dataclass(slots=True)
class Row:
    """Totals of one model key x model x tier over a day (or a merged span of days)."""

    model_key: str
    model: str
    tier: str
    calls: int = 0
    errors: int = 0  # calls that failed at the provider (by class: `errors_by_class`)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    micros: int = 0
    successes: int = 0  # calls whose output was valid
    invalid: int = 0  # calls whose output failed validation (schema or input check)
    latency_ms: int = 0  # summed provider time of the calls
    # calls never settled (their worker died): charged at their reserved bound, in
    # `calls` and `micros`, and counted here too
    estimated_calls: int = 0
    estimated_micros: int = 0
    errors_by_class: dict[str, int] = field(default_factory=dict)
    latency: list[int] = field(default_factory=_histogram)

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens,
                     self.cache_read_tokens, self.cache_write_tokens)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def add(self, other: Row) -> None:
        """Add `other`'s counters (same row of another day) into this one."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, int) and not isinstance(mine, bool):
                setattr(self, f.name, mine + theirs)
            elif isinstance(mine, list):
                for i, n in enumerate(theirs):
                    mine[i] += n
            elif isinstance(mine, dict):
                for k, n in theirs.items():
                    mine[k] = mine.get(k, 0) + n


@dataclass(slots=True)
class AggregateRow(Row):
    """A production row: also the routing events and budget refusals."""

    tasks: int = 0  # tasks that finished on this model (their last call)
    e2e_ms: int = 0  # their summed end-to-end time (from send, or first arrival)
    e2e: list[int] = field(default_factory=_histogram)
    fallbacks_out: int = 0  # hops to a fallback model away from this one
    escalations_out: int = 0  # escalations away from this model (its output was invalid)
    fallback_calls: int = 0  # calls made after a fallback (and their cost)
    fallback_micros: int = 0
    escalation_calls: int = 0
    escalation_micros: int = 0
    downgrade_calls: int = 0
    downgrade_micros: int = 0
    deferred_calls: int = 0
    deferred_micros: int = 0
    # calls made through a provider batch, their cost at the batch rate, and what the same
    # tokens would have cost more at direct prices
    batch_calls: int = 0
    batch_micros: int = 0
    batch_saved_micros: int = 0
    deferrals: int = 0
    deferrals_needed_micros: int = 0
    rejections: int = 0
    rejections_needed_micros: int = 0
    # tasks whose route header was refused (not sealed by this deployment) and that were
    # routed afresh to this row's model
    route_headers_refused: int = 0


@dataclass(slots=True)
class TrialRow(Row):
    """A shadow-trial row (`model` is the candidate): its spend and its scores.

    Each scored sample adds one of agree / disagree / candidate_invalid (typed outputs,
    or free text with a judge) or unjudged (free text without a judge), and the
    production and candidate latency and cost of that same sample, for paired ratios.
    """

    judge_calls: int = 0  # calls of the judge model (in `calls`, `micros`)
    judge_micros: int = 0
    samples: int = 0
    agree: int = 0
    disagree: int = 0
    candidate_invalid: int = 0
    candidate_errors: int = 0
    unjudged: int = 0
    skipped_budget: int = 0  # sampled, but the trial budget had no room: no shadow
    replayed: int = 0  # sampled again (a re-delivered task): no second shadow
    prod_latency_ms: int = 0
    cand_latency_ms: int = 0
    prod_micros: int = 0
    cand_micros: int = 0
    # The same scores of replayed recorded samples (`llm-router trial replay`), apart
    # from the live ones; their calls and spend are in `calls` and `micros` like any
    # trial call.
    replay_samples: int = 0
    replay_agree: int = 0
    replay_disagree: int = 0
    replay_candidate_invalid: int = 0
    replay_candidate_errors: int = 0
    replay_unjudged: int = 0
    replay_prod_latency_ms: int = 0
    replay_cand_latency_ms: int = 0
    replay_prod_micros: int = 0
    replay_cand_micros: int = 0
    # agent turns (tools offered) among `samples`, and how many of them agreed: decisions
    # (the tool and its arguments) compared, apart from text turns
    tool_samples: int = 0
    tool_agree: int = 0


R = TypeVar("R", bound=Row)


def check_row_name(name: str, value: str) -> None:
    """A model key, model or tier as a part of a hash field (`key|model|tier|metric`)."""
    if not isinstance(value, str) or not value or "|" in value or any(c.isspace() for c in value):
        raise ValueError(f"{name} must be a non-empty string without '|' or spaces, got {value!r}")


def int_fields(cls: type[Row]) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls) if f.type == "int")


def parse_rows(raw: dict[Any, Any], cls: type[R]) -> list[R]:
    """Rows of one day's hash (fields `key|model|tier|metric`), sorted; a field written by
    a newer version is skipped."""
    names = int_fields(cls)
    rows: dict[tuple[str, str, str], R] = {}
    for k, v in raw.items():
        model_key, model, tier, metric = text(k).split("|", 3)
        key = (model_key, model, tier)
        row = rows.get(key) or rows.setdefault(key, cls(*key))
        value = int(v)
        if metric in names:
            setattr(row, metric, value)
        elif metric.startswith("err:"):
            row.errors_by_class[metric[4:]] = value
        elif metric.startswith(("lat:", "e2e:")):
            histogram = getattr(row, "latency" if metric[0] == "l" else "e2e", None)
            index = int(metric[4:])
            if histogram is not None and 0 <= index < len(histogram):
                histogram[index] = value
    return [rows[key] for key in sorted(rows)]


def merge(rows: list[R]) -> list[R]:
    """Rows of several days, one per model key x model x tier, sorted."""
    merged: dict[tuple[str, str, str], R] = {}
    for row in rows:
        key = (row.model_key, row.model, row.tier)
        into = merged.get(key)
        if into is None:
            into = merged[key] = type(row)(*key)
        into.add(row)
    return [merged[k] for k in sorted(merged)]
