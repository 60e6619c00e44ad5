"""Reconciliation: the ledger against a provider's own usage and cost reports.

Pure functions: the provider's rows (read elsewhere, `workers.providers.usage_reports`),
the ledger's day rows and the config's prices in, findings out. Per UTC day and model,
three comparisons, each with the likely cause of a difference beyond the tolerance:

- `tokens`: the provider's tokens against the ledger's (calls the ledger never saw, or
  counted twice);
- `price`: the provider's tokens priced at the config's prices against the provider's
  cost (a price that drifted from the bill);
- `spend`: the ledger's cost against the provider's cost (what the two above add up to,
  or calls priced with prices that changed since).

The ledger side is production and shadow-trial calls alike: the provider bills both.
Provider tokens are priced with `routing.prices.pricing.cost_micros`, the one pricing
function (a batch row at the batch rate), summed per day and model and rounded once.
A day is final only once the provider's reporting delay has passed after its end;
before that its comparison is provisional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from routing.config.models import RoutingConfig
from routing.money import MICROS_PER_USD, usd
from routing.prices.pricing import Usage, cost_micros
from routing.spend.aggregates import Row

Check = Literal["tokens", "price", "spend"]
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
MICROS_PER_CENT = 10_000
# A dated snapshot of a model id (`gpt-4o-2024-08-06`, `claude-3-5-haiku-20241022`).
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
UNATTRIBUTED = "(no model)"

CAUSES = {
    ("tokens", 1): "the provider counted tokens the ledger never saw: calls outside the "
                   "router on the same key or workspace, or calls not settled yet",
    ("tokens", -1): "the ledger counted tokens the provider did not: calls counted twice, "
                    "or a provider report not final yet",
    ("price", 1): "the bill is dearer than the config's prices: a price that drifted "
                  "(run `llm-router prices check`)",
    ("price", -1): "the bill is cheaper than the config's prices: a price that drifted, or "
                   "a discount the config does not know (run `llm-router prices check`)",
    ("spend", 0): "follows from the differences above",
    ("spend", 1): "the ledger priced its calls below the bill: prices changed since the "
                  "calls were made",
    ("spend", -1): "the ledger priced its calls above the bill: prices changed since the "
                   "calls were made",
}
MODEL_CAUSE = ("a model the config does not have: another system on the same key or "
               "workspace, or a model since removed from the config")
UNATTRIBUTED_CAUSE = "provider cost not attributed to a model (tools, storage, other products)"


def micros_from_cents(amount: str) -> int:
    """A decimal string of (fractional) US cents as micro-dollars (Anthropic's reports)."""
    return int((Decimal(amount) * MICROS_PER_CENT).to_integral_value())


def micros_from_usd(amount: float | int | str) -> int:
    """A USD number as micro-dollars (OpenAI's reports); via its shortest repr, so 0.1 is
    100000, not the binary float's 99999.99...)."""
    return int((Decimal(str(amount)) * MICROS_PER_USD).to_integral_value())


@dataclass(frozen=True, slots=True)
class Tolerance:
    """A difference is within tolerance when it is at most `relative` of the larger side,
    or (money) at most `micros` micro-dollars."""

    relative: Decimal = Decimal("0.01")
    micros: int = 10_000

    def within(self, a: int, b: int, *, money: bool) -> bool:
        diff = abs(a - b)
        return diff <= self.relative * max(abs(a), abs(b)) or (money and diff <= self.micros)


@dataclass(frozen=True, slots=True)
class ReportedUsage:
    """Tokens a provider reports for one UTC day and model (its model id)."""

    day: str
    model: str
    usage: Usage
    batch: bool = False
    requests: int = 0


@dataclass(frozen=True, slots=True)
class ReportedCost:
    """Cost a provider reports for one UTC day and model (None: not a model's)."""

    day: str
    model: str | None
    micros: int


@dataclass(frozen=True, slots=True)
class Finding:
    check: Check
    provider: int  # tokens or micro-dollars, the provider's side
    ours: int  # the ledger's tokens or cost, or the provider's tokens at the config's prices
    cause: str

    @property
    def difference(self) -> int:
        return self.provider - self.ours

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "provider": self.provider,
                               "ours": self.ours, "difference": self.difference,
                               "cause": self.cause}
        if self.check != "tokens":
            out["difference_usd"] = usd(self.difference)
        return out


@dataclass(slots=True)
class Line:
    """One UTC day and model: both sides, and the differences beyond tolerance."""

    day: str
    model: str  # the catalog model, or the provider's id of a model the config lacks
    provider_model: str
    provider_usage: Usage = field(default_factory=Usage)
    ledger_usage: Usage = field(default_factory=Usage)
    priced_micros: int | None = None  # the provider's tokens at the config's prices
    provider_micros: int | None = None
    ledger_micros: int = 0
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day, "model": self.model, "provider_model": self.provider_model,
            "provider_tokens": self.provider_usage.as_dict(),
            "ledger_tokens": self.ledger_usage.as_dict(),
            "priced_micros": self.priced_micros, "provider_micros": self.provider_micros,
            "ledger_micros": self.ledger_micros,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(slots=True)
class Reconciliation:
    provider: str
    days: list[str]
    provisional: list[str]  # days whose provider report is not final yet
    lines: list[Line]
    tolerance: Tolerance
    filters: dict[str, str] = field(default_factory=dict)
    generated_at: str = ""

    @property
    def gaps(self) -> list[tuple[Line, Finding]]:
        return [(line, f) for line in self.lines for f in line.findings]

    @property
    def ok(self) -> bool:
        return not self.gaps

    def totals(self) -> dict[str, int]:
        """Summed over the lines: each side's cost, and the largest spend difference."""
        provider = sum(line.provider_micros or 0 for line in self.lines)
        ledger = sum(line.ledger_micros for line in self.lines)
        return {"provider_micros": provider, "ledger_micros": ledger,
                "difference_micros": provider - ledger}

    def as_dict(self) -> dict[str, Any]:
        totals = self.totals()
        return {
            "provider": self.provider, "days": self.days, "provisional": self.provisional,
            "generated_at": self.generated_at, "ok": self.ok,
            "tolerance": {"relative": float(self.tolerance.relative),
                          "usd": usd(self.tolerance.micros)},
            "filters": self.filters, **totals,
            "difference_usd": usd(totals["difference_micros"]),
            "gaps": [{"day": line.day, "model": line.model, **f.as_dict()}
                     for line, f in self.gaps],
            "lines": [line.as_dict() for line in self.lines],
        }


def base_model(model_id: str) -> str:
    """A provider model id without its dated-snapshot suffix."""
    return _SNAPSHOT.sub("", model_id)


def provider_models(config: RoutingConfig, provider: str) -> dict[str, str]:
    """provider model id -> catalog model, for the config's models of `provider`."""
    return {spec.provider_model: name for name, spec in sorted(config.models.items())
            if spec.provider == provider}


def is_final(day: str, now: datetime, delay: timedelta) -> bool:
    """Whether the provider's report of `day` is final at `now` (its delay has passed)."""
    end = datetime.fromisoformat(day).replace(tzinfo=now.tzinfo) + timedelta(days=1)
    return now >= end + delay


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(*(getattr(a, k) + getattr(b, k) for k in TOKEN_KINDS))


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def reconcile(
    provider: str, days: list[str], config: RoutingConfig, *,
    usage: list[ReportedUsage], costs: list[ReportedCost], ledger: dict[str, list[Row]],
    tolerance: Tolerance, provisional: list[str] | None = None,
) -> Reconciliation:
    """Compare per day and model: `usage` and `costs` (the provider's reports), `ledger`
    (day -> the ledger's production and trial rows of that day)."""
    ids = provider_models(config, provider)
    by_base = {base_model(i): m for i, m in ids.items()}

    def catalog(model_id: str) -> str | None:
        return ids.get(model_id) or by_base.get(base_model(model_id))

    lines: dict[tuple[str, str], Line] = {}

    def line(day: str, model: str, provider_model: str) -> Line:
        key = (day, model)
        if key not in lines:
            lines[key] = Line(day, model, provider_model)
        return lines[key]

    wanted = set(days)
    for row in usage:
        if row.day not in wanted:
            continue
        model = catalog(row.model)
        entry = line(row.day, model or row.model, row.model)
        entry.provider_usage = _add(entry.provider_usage, row.usage)
        if model is not None:
            price = config.price_of(model)
            batch = row.batch and price.batch_discount is not None
            # `calls`: a long-context tier applies by the mean input of the row's requests
            entry.priced_micros = (entry.priced_micros or 0) + cost_micros(
                row.usage, price, batch=batch, calls=max(1, row.requests))
    for cost in costs:
        if cost.day not in wanted:
            continue
        name = UNATTRIBUTED if cost.model is None else catalog(cost.model) or cost.model
        entry = line(cost.day, name, cost.model or UNATTRIBUTED)
        entry.provider_micros = (entry.provider_micros or 0) + cost.micros
    for day in days:
        for ours in ledger.get(day, []):
            spec = config.models.get(ours.model)
            if spec is None or spec.provider != provider:
                continue
            entry = line(day, ours.model, spec.provider_model)
            entry.ledger_usage = _add(entry.ledger_usage, ours.usage)
            entry.ledger_micros += ours.micros
    for entry in lines.values():
        _check(entry, known=entry.model in config.models or entry.model == UNATTRIBUTED,
               tolerance=tolerance)
    return Reconciliation(
        provider=provider, days=list(days), provisional=list(provisional or []),
        lines=[lines[k] for k in sorted(lines)], tolerance=tolerance,
    )


def _check(entry: Line, *, known: bool, tolerance: Tolerance) -> None:
    theirs, ours = entry.provider_usage, entry.ledger_usage
    if not all(tolerance.within(getattr(theirs, k), getattr(ours, k), money=False)
               for k in TOKEN_KINDS):
        total_theirs, total_ours = sum(theirs.as_dict().values()), sum(ours.as_dict().values())
        sign = _sign(total_theirs - total_ours) or 1
        cause = CAUSES[("tokens", sign)] if known else MODEL_CAUSE
        entry.findings.append(Finding("tokens", total_theirs, total_ours, cause))
    billed = entry.provider_micros
    if billed is not None and entry.priced_micros is not None and not tolerance.within(
            billed, entry.priced_micros, money=True):
        entry.findings.append(Finding("price", billed, entry.priced_micros,
                                      CAUSES[("price", _sign(billed - entry.priced_micros))]))
    billed = billed or 0
    if not tolerance.within(billed, entry.ledger_micros, money=True):
        if entry.model == UNATTRIBUTED:
            cause = UNATTRIBUTED_CAUSE
        elif not known:
            cause = MODEL_CAUSE
        elif entry.findings:
            cause = CAUSES[("spend", 0)]
        else:
            cause = CAUSES[("spend", _sign(billed - entry.ledger_micros))]
        entry.findings.append(Finding("spend", billed, entry.ledger_micros, cause))


def span(last: date, days: int) -> list[str]:
    """The `days` UTC days ending with `last`, oldest first."""
    return [(last - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
