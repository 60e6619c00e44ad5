"""The monthly routing review: per model key, what ran where, at what cost, and how often
the cheap route was not good enough (escalations) or not available (fallbacks, errors).

The seed's advice is to reassess routing monthly; this gives the figures to do it with
and flags keys worth a look. It never changes the config itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from routing.aggregates import AggregateRow
from routing.config import RoutingConfig
from routing.ledger import Ledger
from routing.money import usd
from routing.report import report_days

ESCALATION_FLAG = 0.20  # share of a key's calls made after an escalation
ERROR_FLAG = 0.10  # share of a key's calls that failed


def review(ledger: Ledger, config: RoutingConfig, days: int = 30) -> dict[str, Any]:
    span = report_days(None, days)
    keys: dict[str, dict[str, Any]] = {}
    for day in span:
        for row in ledger.day_aggregates(day).rows:
            _add(keys, row)
    findings: list[str] = []
    for key, entry in sorted(keys.items()):
        calls = entry["calls"] or 1
        entry["escalation_share"] = round(entry["escalation_calls"] / calls, 4)
        entry["error_share"] = round(entry["errors"] / calls, 4)
        spec = config.model_keys.get(key)
        if spec is None:
            findings.append(f"{key}: no longer in the config ({entry['calls']} calls)")
            continue
        if entry["escalation_share"] > ESCALATION_FLAG:
            findings.append(
                f"{key}: {entry['escalation_share']:.0%} of calls escalated past "
                f"{spec.model}; consider routing it to a stronger model"
            )
        if entry["error_share"] > ERROR_FLAG:
            findings.append(
                f"{key}: {entry['error_share']:.0%} of calls failed; check the provider "
                "of its model or add fallbacks"
            )
    total = sum(e["micros"] for e in keys.values())
    summary = (
        f"{len(span)} days to {span[-1]}: {sum(e['calls'] for e in keys.values())} calls, "
        f"${usd(total):.2f}, {len(findings)} finding(s)"
    )
    return {
        "from": span[0],
        "to": span[-1],
        "config_version": config.version,
        "model_keys": keys,
        "findings": findings,
        "summary": summary,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _add(keys: dict[str, dict[str, Any]], row: AggregateRow) -> None:
    entry = keys.setdefault(
        row.model_key,
        {"calls": 0, "errors": 0, "micros": 0, "escalation_calls": 0, "fallback_calls": 0,
         "models": {}},
    )
    entry["calls"] += row.calls
    entry["errors"] += row.errors
    entry["micros"] += row.micros
    entry["escalation_calls"] += row.escalation_calls
    entry["fallback_calls"] += row.fallback_calls
    entry["models"][row.model] = entry["models"].get(row.model, 0) + row.calls


def store_routing_review(ledger: Ledger, config: RoutingConfig, days: int = 30) -> dict[str, Any]:
    """Build the review and keep it in Redis under `<ns>:reports:routing_review:<YYYY-MM>`."""
    result = review(ledger, config, days)
    month = result["to"][:7]
    ledger.client.set(
        f"{ledger.namespace}:reports:routing_review:{month}",
        json.dumps(result, separators=(",", ":")),
        ex=ledger.aggregate_keep_days * 86400,
    )
    return result
