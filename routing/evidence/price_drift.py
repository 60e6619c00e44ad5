"""The review's price section: the config's prices against the price catalog, and what
the difference did to the window's spend.

Per model, the recorded spend at direct prices (the ledger's micro-dollars, with the
provider-batch savings added back and the never-settled calls, charged at their reserved
bound with no usage, left out) against the same tokens at the catalog's prices (each
aggregate row at the tier of its mean call, `routing.prices.pricing.total_cost_micros`).
A positive difference: the config charged more than the catalog would have.
The catalog (`routing.catalog.lookup`, genai-prices) is imported here only, when the review runs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from routing.config.models import RoutingConfig
from routing.money import usd
from routing.prices.pricing import total_cost_micros
from routing.spend.aggregates import AggregateRow


def price_drift(config: RoutingConfig, rows: list[AggregateRow]) -> dict[str, Any]:
    """The drift of every model's prices and its effect on the spend of `rows`."""
    from routing.prices.drift import catalog_prices, check

    checked = check(config)
    found = catalog_prices(config)
    by_model: dict[str, list[AggregateRow]] = defaultdict(list)
    for row in rows:
        by_model[row.model].append(row)
    spend: list[dict[str, Any]] = []
    recorded_total = catalog_total = 0
    for model, group in sorted(by_model.items()):
        theirs = found.get(model)
        recorded = sum(r.micros + r.batch_saved_micros - r.estimated_micros for r in group)
        at_catalog: int | None = None
        if theirs is not None and not isinstance(theirs, str):
            at_catalog = total_cost_micros([(r.usage, r.calls) for r in group], theirs)
            recorded_total += recorded
            catalog_total += at_catalog
        spend.append({
            "model": model, "calls": sum(r.calls for r in group),
            "recorded_micros": recorded, "recorded_usd": usd(recorded),
            "at_catalog_micros": at_catalog,
            "at_catalog_usd": None if at_catalog is None else usd(at_catalog),
            "difference_micros": None if at_catalog is None else recorded - at_catalog,
        })
    return {
        "catalog": checked["catalog"], "agrees": checked["agrees"],
        "drifted": checked["drifted"], "not_in_catalog": checked["unknown"],
        "models": checked["models"], "spend": spend,
        # the totals: over the models the catalog knows
        "recorded_micros": recorded_total, "at_catalog_micros": catalog_total,
        "difference_micros": recorded_total - catalog_total,
        "difference_usd": usd(recorded_total - catalog_total),
    }
