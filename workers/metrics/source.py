"""The `MetricsSource` of a deployment: its Redis (ledger, budgets, config) and broker.

One scrape costs a handful of round trips: TIME, the day's ledger aggregates (one
HGETALL), the trial aggregates of the last 30 days (one pipeline of small hashes: the
agreement gauges), the config version (one GET; the config document itself only when the
version changed), the budget status (one EVALSHA), the queue depths (one pipeline on
Redis, one passive declare per tier queue on RabbitMQ), the provider batches (three) and
the last reconciliations (one MGET).
The counterfactual spend is priced from the aggregates and the config, with no round trip.
The price drift against the catalog (genai-prices, imported at the first scrape, never by
a task) is computed once per config version.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from routing.batches.store import BatchStore
from routing.config.defaults import default_config
from routing.config.models import RoutingConfig
from routing.config.store import ConfigStore
from routing.connect import connect
from routing.days import report_days
from routing.reports.reconciled import load_reconciliations
from routing.reports.report import counterfactuals
from routing.spend.aggregates import merge
from routing.spend.budget import BudgetBook
from routing.spend.ledger import Ledger
from routing.spend.runs import RunBook
from workers.contract import DEFAULT_QUEUE
from workers.metrics.agents import bounded
from workers.metrics.broker_depth import QueueDepths, open_depths, tier_depths
from workers.metrics.snapshot import ConsumerLookup, Snapshot
from workers.metrics.trials import TRIAL_WINDOW_DAYS
from workers.settings import Settings

DAY = 86400


class RedisMetricsSource:
    """Reads a `Snapshot` of the deployment that `settings` describes."""

    def __init__(self, settings: Settings, consumers: ConsumerLookup | None = None) -> None:
        self.settings = settings
        self.consumers = consumers
        self.redis = connect(settings.redis_url, socket_connect_timeout=2, socket_timeout=5,
                             health_check_interval=30)
        self.broker = open_depths(settings, self.redis)
        self.store = ConfigStore(self.redis, settings.namespace)
        self.ledger = Ledger(self.redis, settings.namespace, keep_days=settings.ledger_keep_days)
        self.budgets = BudgetBook(self.redis, settings.namespace)
        self.batches = BatchStore(self.redis, settings.namespace)
        self.runs = RunBook(self.redis, settings.namespace)
        self._lock = threading.Lock()
        self._config: tuple[int, RoutingConfig] | None = None
        self._drift: tuple[int, dict[str, float]] | None = None

    def close(self) -> None:
        self.redis.close()
        if self.broker is not None:
            self.broker.close()

    def config(self) -> tuple[int, RoutingConfig]:
        """(stored version, config); the shipped default while none is stored (version 0)."""
        version = self.store.version()
        with self._lock:
            cached = self._config
        if cached is not None and cached[0] == version:
            return cached
        config = self.store.read() if version else default_config()
        current = (config.version if version else 0, config)
        with self._lock:
            self._config = current
        return current

    def drift(self, version: int, config: RoutingConfig) -> dict[str, float]:
        """model -> price drift ratio of this config version (cached per version)."""
        with self._lock:
            cached = self._drift
        if cached is not None and cached[0] == version:
            return cached[1]
        from routing.prices.drift import drift_ratios

        ratios = drift_ratios(config)
        with self._lock:
            self._drift = (version, ratios)
        return ratios

    def stranded(self, config: RoutingConfig) -> dict[tuple[str, str], bool] | None:
        """(tier, queue) -> work waits and no worker consumes it, for each tier queue and
        Celery's default queue of a dispatch tier (as `llm-router tiers`). The workers are
        asked (a broadcast) only when some queue has work; None without a lookup."""
        if self.consumers is None or self.broker is None:
            return None
        pairs = [(name, tier.queue) for name, tier in config.tiers.items()]
        pairs += [(name, DEFAULT_QUEUE) for name, tier in config.tiers.items() if tier.dispatch]
        return stranded_queues(self.broker, pairs, self.consumers)

    def today(self) -> tuple[str, float]:
        """The UTC day by the Redis server's clock (the ledger's) and its start."""
        seconds, _micros = self.redis.time()
        start = int(seconds) // DAY * DAY
        return datetime.fromtimestamp(start, UTC).date().isoformat(), float(start)

    def snapshot(self) -> Snapshot:
        day, day_start = self.today()
        version, config = self.config()
        queues = {name: tier.queue for name, tier in config.tiers.items()}
        depths = tier_depths(self.broker, queues) if self.broker is not None else {}
        rows = self.ledger.day_aggregates(day).rows
        return Snapshot(
            day=day,
            day_start=day_start,
            rows=rows,
            counterfactuals=counterfactuals(config, rows),
            budgets=self.budgets.status(config),
            config_version=version,
            queue_depths={tier: (queues[tier], n) for tier, n in depths.items()},
            stranded=self.stranded(config),
            trial_rows=self.ledger.trial_aggregates(day),
            trial_window=merge(self.ledger.trial_spans(report_days(day, TRIAL_WINDOW_DAYS))),
            batches=self.batches.summary(),
            price_drift=self.drift(version, config),
            reconciliations=load_reconciliations(self.redis, self.settings.namespace),
            agents=bounded(
                {name: s.counts for name, s in
                 self.runs.spend([day]).get("agent", {}).items()},
                config.budgets.agents, self.settings.metrics_top_agents),
        )


def stranded_queues(
    depths: QueueDepths, pairs: Sequence[tuple[str, str]], consumers: ConsumerLookup
) -> dict[tuple[str, str], bool]:
    """(tier, queue) -> whether work waits in the queue with no live consumer."""
    waiting = depths.queue_depths(sorted({q for _, q in pairs}))
    busy = {q for q, n in waiting.items() if n > 0}
    serving = consumers() if busy else {}
    return {(t, q): q in busy and not serving.get(q) for t, q in pairs}
