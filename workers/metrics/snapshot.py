"""What one scrape reports: a `Snapshot` of the deployment, read by a `MetricsSource`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from routing.spend.aggregates import AggregateRow, TrialRow
from routing.spend.budget import BudgetStatus

# queue name -> node names of the live workers consuming it (a Celery broadcast, given by
# the caller: the metrics know nothing of Celery)
ConsumerLookup = Callable[[], Mapping[str, Sequence[str]]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one scrape reports; `day_start` is 00:00 UTC of `day` (unix seconds)."""

    day: str
    day_start: float
    rows: Sequence[AggregateRow] = ()
    budgets: Sequence[BudgetStatus] = ()
    config_version: int = 0
    queue_depths: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """tier -> (queue name, waiting messages)"""
    stranded: Mapping[tuple[str, str], bool] | None = None
    """(tier, queue) -> work waits there and no live worker consumes it; None when the
    source cannot ask the workers (no consumer lookup given to it)"""
    counterfactuals: Mapping[str, tuple[str, int] | None] = field(default_factory=dict)
    """basis -> (model, micro-dollars): the day's tokens all on one model
    (`routing.reports.report.counterfactuals`)"""
    trial_rows: Sequence[TrialRow] = ()
    trial_window: Sequence[TrialRow] = ()
    """the trial rows of the last `TRIAL_WINDOW_DAYS` UTC days, merged per key and
    candidate (the agreement gauges)"""
    batches: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """state -> (provider batches not over yet, calls in them)"""
    price_drift: Mapping[str, float] = field(default_factory=dict)
    """model -> config price / catalog price, the compared rate furthest from 1
    (`routing.prices.drift`; models the catalog does not know are absent)"""
    reconciliations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """provider -> its last stored reconciliation (`routing.reports.reconciled`)"""
    agents: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """agent label -> the day's counters (`workers.metrics.agents.bounded`: at most the
    config's agents, the top N others and `other`)"""


class MetricsSource(Protocol):
    def snapshot(self) -> Snapshot: ...
