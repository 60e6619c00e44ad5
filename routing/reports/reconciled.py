"""The last reconciliation of each provider, stored in Redis as the JSON the command
prints (`routing.spend.reconcile.Reconciliation.as_dict`), for the cost report and the
metrics: `{<ns>}:reconcile:last:<provider>`, kept like the day aggregates."""

from __future__ import annotations

import json
from typing import Any

import redis

from routing.keys import keyspace
from routing.money import usd

PROVIDERS = ("anthropic", "openai")


def last_key(namespace: str, provider: str) -> str:
    return f"{keyspace(namespace)}:reconcile:last:{provider}"


def store_reconciliation(client: redis.Redis, namespace: str, document: dict[str, Any], *,
                         keep_seconds: int) -> None:
    client.set(last_key(namespace, document["provider"]),
               json.dumps(document, separators=(",", ":")), ex=keep_seconds)


def load_reconciliations(client: redis.Redis, namespace: str) -> dict[str, dict[str, Any]]:
    """provider -> its last stored reconciliation (providers never reconciled are absent);
    one MGET."""
    raw = client.mget([last_key(namespace, p) for p in PROVIDERS])
    return {p: json.loads(r) for p, r in zip(PROVIDERS, raw, strict=True) if r is not None}


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """What the cost report shows of a reconciliation: when, which days, the totals."""
    keys = ("provider", "days", "provisional", "generated_at", "ok", "provider_micros",
            "ledger_micros", "difference_micros")
    out = {k: document.get(k) for k in keys}
    out["difference_usd"] = usd(int(document.get("difference_micros") or 0))
    out["gaps"] = len(document.get("gaps") or [])
    return out


def summary_line(document: dict[str, Any]) -> str:
    """One line of a reconciliation's `summary` (the cost report's)."""
    days = document["days"]
    span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
    state = "within tolerance" if document["ok"] else f"{document['gaps']} difference(s)"
    provisional = " (provisional)" if document.get("provisional") else ""
    return (f"reconciled {document['provider']} {span}{provisional} at "
            f"{document['generated_at']}: bill ${usd(document['provider_micros']):.6f}, "
            f"ledger ${usd(document['ledger_micros']):.6f}: {state}")
