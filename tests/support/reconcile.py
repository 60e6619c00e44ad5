"""Helpers of the reconciliation tests: ledger days written as the ledger writes them, and
the stand-in's report entries billed at the config's prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis

from routing.config.models import RoutingConfig
from routing.keys import day_key, keyspace
from routing.prices.pricing import Usage, cost_micros
from tests.support.llm_reports import ADMIN_KEYS, Entry
from tests.support.llm_server import LLMServer

KIND_FIELDS = {"input": "input_tokens", "output": "output_tokens",
               "cache_read": "cache_read_tokens", "cache_write": "cache_write_tokens"}


def past_day(n: int) -> str:
    """The UTC day `n` days ago (final once the default reporting delay has passed)."""
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


def seed_ledger(client: redis.Redis, namespace: str, day: str, model_key: str, model: str,
                tier: str, tokens: dict[str, int], config: RoutingConfig) -> int:
    """Add one settled call's counters to `day`'s production aggregates (the fields
    `routing.spend.ledger` writes), priced like the task layer prices; returns its cost."""
    usage = Usage(**{KIND_FIELDS[k]: n for k, n in tokens.items()})
    micros = cost_micros(usage, config.price_of(model))
    key = day_key(keyspace(namespace), day, "agg")
    row = f"{model_key}|{model}|{tier}"
    with client.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, f"{row}|calls", 1)
        pipe.hincrby(key, f"{row}|successes", 1)
        pipe.hincrby(key, f"{row}|micros", micros)
        for kind, n in tokens.items():
            pipe.hincrby(key, f"{row}|{KIND_FIELDS[kind]}", n)
        pipe.execute()
    return micros


def billed(config: RoutingConfig, model: str, tokens: dict[str, int],
           factor: Decimal = Decimal(1)) -> dict[str, Decimal]:
    """The bill of `tokens` per kind in USD: the config's price times `factor`."""
    price = config.price_of(model)
    return {k: Decimal(cost_micros(Usage(**{KIND_FIELDS[k]: n}), price)) * factor
            / 1_000_000 for k, n in tokens.items()}


def entry(provider: str, config: RoutingConfig, day: str, model: str, tokens: dict[str, int],
          *, provider_model: str | None = None, factor: Decimal = Decimal(1),
          workspace: str | None = None) -> Entry:
    return Entry(provider, day, provider_model or config.models[model].provider_model,
                 tokens, billed(config, model, tokens, factor), workspace=workspace)


def point_at(monkeypatch: pytest.MonkeyPatch, server: LLMServer, *,
             admin_keys: bool = True) -> None:
    """The environment of a reconciling process: the stand-in's URLs and admin keys."""
    from workers.settings import get_settings

    urls = server.base_urls
    monkeypatch.setenv("ANTHROPIC_BASE_URL", urls["anthropic"])
    monkeypatch.setenv("OPENAI_BASE_URL", urls["openai"])
    for provider, key in ADMIN_KEYS.items():
        if admin_keys:
            monkeypatch.setenv(f"{provider.upper()}_ADMIN_KEY", key)
        else:
            monkeypatch.delenv(f"{provider.upper()}_ADMIN_KEY", raising=False)
    get_settings.cache_clear()
