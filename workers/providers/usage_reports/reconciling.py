"""Reconcile the ledger with one provider's report: read the report, the ledger's day rows
(production and shadow trials: the provider bills both) and the config, compare
(`routing.spend.reconcile`). Used by `llm-router cost reconcile` and the daily Beat job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from routing.config.models import RoutingConfig
from routing.money import MICROS_PER_USD
from routing.reports.reconciled import store_reconciliation
from routing.spend.aggregates import Row
from routing.spend.ledger import Ledger
from routing.spend.reconcile import Reconciliation, Tolerance, is_final, reconcile
from routing.timestamps import iso
from workers.providers.usage_reports.fetch import ReportingProvider, fetch
from workers.settings import Settings


def tolerance(settings: Settings) -> Tolerance:
    return Tolerance(relative=settings.reconcile_tolerance,
                     micros=int(settings.reconcile_tolerance_usd * MICROS_PER_USD))


def delay(settings: Settings) -> timedelta:
    return timedelta(hours=settings.reconcile_delay_hours)


def newest_final_day(settings: Settings, now: datetime | None = None) -> date:
    """The last UTC day whose reports are final at `now` (the reporting delay after it)."""
    now = now or datetime.now(UTC)
    return (now - delay(settings)).date() - timedelta(days=1)


def ledger_rows(ledger: Ledger, days: list[str]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for day in days:
        out[day] = [*ledger.day_aggregates(day).rows, *ledger.trial_aggregates(day)]
    return out


def reconcile_provider(
    settings: Settings, ledger: Ledger, config: RoutingConfig, provider: ReportingProvider,
    days: list[str], *, now: datetime | None = None, store: bool = True,
) -> Reconciliation:
    """Compare `days` for `provider`; store the result as its last reconciliation. A
    report that cannot be read raises (`usage_reports.errors`) and stores nothing."""
    now = now or datetime.now(UTC)
    report = fetch(settings, provider, days)
    result = reconcile(
        provider, days, config, usage=report.usage, costs=report.costs,
        ledger=ledger_rows(ledger, days), tolerance=tolerance(settings),
        provisional=[d for d in days if not is_final(d, now, delay(settings))],
    )
    result.filters = report.filters
    result.generated_at = iso(now.timestamp())
    if store:
        store_reconciliation(ledger.client, ledger.namespace, result.as_dict(),
                             keep_seconds=ledger.aggregate_keep_days * 86400)
    return result
