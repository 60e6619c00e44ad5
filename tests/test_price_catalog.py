"""The price catalog (genai-prices, pinned, offline): the shipped prices equal it, the one
pricing function agrees with its `calc_price` to the micro-dollar, `price: catalog` is
resolved on a config write, and a model it does not know is refused by its path."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import redis
from genai_prices import Usage as CatalogUsage
from genai_prices import calc_price, data_snapshot
from hypothesis import given
from hypothesis import strategies as st

from routing.catalog import lookup as catalog
from routing.config.defaults import default_config, default_document
from routing.config.models import RoutingConfig
from routing.config.store import ConfigStore
from routing.errors import ConfigError
from routing.prices import drift
from routing.prices.pricing import Usage, cost_micros
from tests.support.properties import bounded

SHIPPED = default_config()
CATALOG_BACKED = [m for m, s in sorted(SHIPPED.models.items())
                  if m != "kimi-for-coding"]
NOW = datetime.now(UTC)


def catalog_micros(usage: Usage, config: RoutingConfig, model: str, *,
                   batch: bool = False) -> int:
    """What the catalog's own calc_price says `usage` costs, in micro-dollars (half-up):
    its `input_tokens` is every input token (it subtracts the cached ones itself)."""
    spec = config.models[model]
    priced = calc_price(
        CatalogUsage(input_tokens=usage.total_input_tokens, output_tokens=usage.output_tokens,
                     cache_read_tokens=usage.cache_read_tokens,
                     cache_write_tokens=usage.cache_write_tokens),
        spec.provider_model, provider_id=catalog.PROVIDERS[spec.provider.value],
        genai_request_timestamp=NOW,
        price_context=catalog.BATCH_CONTEXT if batch else None)
    return int((priced.total_price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_the_shipped_prices_equal_the_pinned_catalog() -> None:
    # A catalog upgrade that moves a price fails here, every changed price in one diff.
    result = drift.check(SHIPPED)
    assert {m["model"]: m["fields"] for m in result["models"] if m["status"] != "agrees"
            and m["status"] != "unknown"} == {}
    assert result["unknown"] == ["kimi-for-coding"]  # explicit prices, their source cited
    assert result["catalog"]["package"] == "genai-prices"
    assert result["catalog"]["fetched"] is False
    assert data_snapshot.get_snapshot().from_auto_update is False  # never fetched


usages = st.builds(
    Usage,
    input_tokens=st.integers(0, 600_000), output_tokens=st.integers(0, 70_000),
    cache_read_tokens=st.integers(0, 300_000), cache_write_tokens=st.integers(0, 100_000))


@pytest.mark.parametrize("model", CATALOG_BACKED)
@bounded(150)
@given(usage=usages)
def test_cost_micros_equals_the_catalogs_calc_price(model: str, usage: Usage) -> None:
    assert cost_micros(usage, SHIPPED.price_of(model)) == catalog_micros(usage, SHIPPED, model)


@pytest.mark.parametrize("model", [m for m in CATALOG_BACKED
                                   if SHIPPED.price_of(m).batch_discount is not None])
@bounded(100)
@given(usage=usages)
def test_batch_prices_equal_the_catalogs_batch_prices(model: str, usage: Usage) -> None:
    if model == "gpt-4o":
        # OpenAI publishes no cached-input batch rate; the catalog keeps the standard one,
        # llm-router halves it with the rest (docs/prices.md: the one known difference).
        usage = Usage(usage.input_tokens, usage.output_tokens, 0, usage.cache_write_tokens)
    assert cost_micros(usage, SHIPPED.price_of(model), batch=True) == catalog_micros(
        usage, SHIPPED, model, batch=True)


def test_a_250k_input_gemini_call_costs_what_the_catalog_says() -> None:
    usage = Usage(input_tokens=250_000, output_tokens=1_000)
    micros = cost_micros(usage, SHIPPED.price_of("gemini-2.5-pro"))
    assert micros == catalog_micros(usage, SHIPPED, "gemini-2.5-pro") == 640_000  # $0.64


@pytest.fixture
def store(redis_client: redis.Redis, namespace: str) -> ConfigStore:
    return ConfigStore(redis_client, namespace)


def test_price_catalog_is_resolved_on_write_and_the_history_says_so(store: ConfigStore) -> None:
    doc = copy.deepcopy(default_document())
    doc["models"]["gpt-4o"]["price"] = "catalog"
    doc["models"]["kimi-for-coding"]["price"] = "catalog"
    doc["models"]["kimi-for-coding"]["catalog_id"] = "kimi-k2.7-code"
    written = store.write(doc, author="test", summary="from the catalog")
    gpt, kimi = written.price_of("gpt-4o"), written.price_of("kimi-for-coding")
    assert (gpt.input, gpt.output, gpt.cache_read) == (Decimal("2.5"), 10, Decimal("1.25"))
    assert (kimi.input, kimi.output, kimi.cache_read) == (Decimal("0.95"), 4, Decimal("0.19"))
    stored = store.read()
    assert stored.price_of("gpt-4o") == gpt  # numbers stored, not the word
    summary = store.history(1)[0]["summary"]
    assert summary.startswith("from the catalog; prices of gpt-4o, kimi-for-coding from the "
                              "catalog: genai-prices 0.2.5")


def test_an_unknown_catalog_model_is_refused_by_path_and_stores_nothing(
        store: ConfigStore) -> None:
    store.init(author="test")
    doc: dict[str, Any] = copy.deepcopy(default_document())
    doc["models"]["kimi-for-coding"]["price"] = "catalog"
    with pytest.raises(ConfigError) as info:
        store.write(doc, author="test")
    (path, reason), = info.value.problems
    assert path == "models.kimi-for-coding.price"
    assert "no model 'kimi-for-coding'" in reason and "catalog_id" in reason
    assert store.version() == 1


def test_no_worker_or_task_module_loads_the_catalog() -> None:
    # The config holds resolved numbers: the catalog is for config writes, the prices
    # commands, the review and the metrics scrape, never a task's import or call path.
    import subprocess
    import sys

    code = ("import sys, tasks, workers.app, workers.execution.runner, routing.config.store; "
            "print('genai_prices' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_failed_latest_fetch_is_one_clear_error_and_leaves_the_pinned_catalog(
        tmp_path: Any) -> None:
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    # A local server with no price data: the fetch gets a 404
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler,
                                                           directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.json"
        with pytest.raises(catalog.CatalogMissError, match="drop --latest"), \
                catalog.with_latest_prices(timeout=10, url=url):
            pytest.fail("the body must not run without fetched prices")
    finally:
        server.shutdown()
    assert data_snapshot.get_snapshot().from_auto_update is False
    assert catalog.info().fetched is False
