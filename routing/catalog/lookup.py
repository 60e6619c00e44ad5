"""The price catalog: list prices read from the pinned `genai-prices` package, offline.

`genai-prices` (pydantic, MIT) bundles its price data in the installed package; this
module reads only that bundled snapshot, never the network: its auto-update
(`genai_prices.UpdatePrices`) runs only when an operator starts it, which
`with_latest_prices` does for the `prices` commands' `--latest` (opt-in, stated in
docs/prices.md). Nothing here is on a worker's hot path: the config holds resolved numbers, and
this module is imported lazily by config writes (`price: catalog`), the `prices` commands
and the review.

It sits below `routing.config` (it knows nothing of the config models) and speaks in price
documents, the `models.<name>.price` mapping of a routing config: rates as decimal strings
in USD per million tokens, `tiers`, `batch_discount`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import import_module
from importlib.metadata import version
from importlib.util import find_spec, module_from_spec
from typing import Any, cast


def _without_init(name: str) -> None:
    """Make package `name` importable without running its `__init__` until one of the
    names it defines is asked for: `genai-prices`' `__init__` imports its updater and, for
    it, an HTTP client, which only `--latest` uses (the prices commands and the review
    read the bundled data alone). Its submodules import as usual; the first other name
    asked of the package (`UpdatePrices`, `calc_price`) runs the `__init__` in place, then
    answers."""
    spec = find_spec(name) if name not in sys.modules else None
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = module_from_spec(spec)

    def complete(attribute: str) -> Any:
        if package.__dict__.get("__getattr__") is not complete:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        if find_spec(f"{name}.{attribute}") is not None:  # `from package import submodule`
            return import_module(f"{name}.{attribute}")
        del package.__dict__["__getattr__"]
        spec.loader.exec_module(package)  # type: ignore[union-attr]
        return getattr(package, attribute)

    package.__dict__["__getattr__"] = complete
    sys.modules[name] = package


_without_init("genai_prices")

from genai_prices import data_snapshot, types  # noqa: E402

# (CatalogInfo, CatalogMissError and PACKAGE are defined below genai-prices, for the
# cached answers of routing.catalog.cache; named here too, as the catalog's)
from routing.catalog.info import PACKAGE as PACKAGE  # noqa: E402
from routing.catalog.info import CatalogInfo as CatalogInfo  # noqa: E402
from routing.errors import CatalogMissError as CatalogMissError  # noqa: E402
from routing.errors import ConfigError  # noqa: E402

# The config's provider names -> the catalog's provider ids.
PROVIDERS = {"anthropic": "anthropic", "openai": "openai", "google": "google",
             "moonshot": "moonshotai"}
RATE_KEYS = {"input": "input_mtok", "output": "output_mtok", "cache_read": "cache_read_mtok",
             "cache_write": "cache_write_mtok"}
BATCH_CONTEXT: types.PriceContext = {"processing": "batch"}
_VERIFIED = re.compile(r"[Vv]erified on (20\d\d-\d\d-\d\d)")


def info() -> CatalogInfo:
    snapshot = data_snapshot.get_snapshot()
    dates = [d for p in snapshot.providers
             for text in (p.price_comments, *(m.price_comments for m in p.models)) if text
             for d in _VERIFIED.findall(text)]
    return CatalogInfo(PACKAGE, version(PACKAGE), max(dates, default=None),
                       snapshot.from_auto_update)


_fetches_in_force = 0  # with_latest_prices blocks open (their fetched prices in force)


def fetched() -> bool:
    """True while fetched prices (`with_latest_prices`) stand in for the bundled data."""
    return _fetches_in_force > 0


@contextmanager
def with_latest_prices(timeout: float = 30.0, url: str | None = None) -> Iterator[None]:
    """Prices fetched from the catalog's published data (`url`: its default) for the
    duration (the operator's opt-in); a failed fetch raises, naming what to do."""
    from genai_prices import UpdatePrices

    updater = UpdatePrices(update_interval=86_400) if url is None else UpdatePrices(
        update_interval=86_400, url=url)
    try:
        try:
            updater.start()
            fetched = updater.wait(timeout)
        except Exception as exc:  # the fetch's own error: network, HTTP, bad data
            raise CatalogMissError(
                f"could not fetch the latest prices ({type(exc).__name__}: {exc}); check the "
                "network, or drop --latest to use the pinned catalog") from None
        if not fetched:
            raise CatalogMissError(
                f"could not fetch the latest prices from {updater.url} within {timeout:g}s; "
                "check the network, or drop --latest to use the pinned catalog")
        global _fetches_in_force
        _fetches_in_force += 1
        try:
            yield  # the caller's own errors pass through unchanged
        finally:
            _fetches_in_force -= 1
    finally:
        cast(Any, updater).stop()  # untyped in the package
        data_snapshot.set_custom_snapshot(None)


def find_model(provider: str, model_id: str) -> types.ModelInfo:
    """The catalog's entry for `model_id` at the config provider `provider`."""
    catalog_provider = PROVIDERS.get(provider)
    if catalog_provider is None:
        raise CatalogMissError(f"the catalog has no provider for '{provider}'")
    try:
        _, model = data_snapshot.get_snapshot().find_provider_model(
            model_id, None, catalog_provider, None)
    except LookupError:
        raise CatalogMissError(
            f"the catalog ({PACKAGE} {version(PACKAGE)}) has no model '{model_id}' at "
            f"'{catalog_provider}'") from None
    return model


@dataclass(frozen=True)
class CatalogModel:
    """A model the catalog lists at a config provider: its id and context window."""

    provider: str  # the config's provider name
    id: str
    name: str
    context_window: int | None


def provider_models(provider: str) -> list[CatalogModel]:
    """Every model the catalog lists at the config provider `provider`, deprecated ones
    left out (none when the catalog has no such provider)."""
    catalog_provider = PROVIDERS.get(provider)
    found = [p for p in data_snapshot.get_snapshot().providers if p.id == catalog_provider]
    return [CatalogModel(provider, m.id, m.name or m.id, m.context_window)
            for p in found for m in p.models if not m.deprecated]


def _text(value: Decimal) -> str:
    return format(value, "f")


def _rate(prices: types.ModelPrice, key: str) -> Decimal | types.TieredPrices | None:
    value = getattr(prices, RATE_KEYS[key])
    assert value is None or isinstance(value, Decimal | types.TieredPrices)
    return value


def _at(value: Decimal | types.TieredPrices, above: int) -> Decimal:
    """The rate of a call whose total input is just above `above` tokens (0: the base)."""
    if isinstance(value, Decimal):
        return value
    rate = value.base
    for tier in value.tiers:
        if tier.start <= above and above > 0:
            rate = tier.price
    return rate


def _base(value: Decimal | types.TieredPrices | None) -> Decimal | None:
    return value.base if isinstance(value, types.TieredPrices) else value


def _batch_discount(model: types.ModelInfo, at: datetime,
                    standard: types.ModelPrice) -> Decimal | None:
    """The one share a provider batch takes off input and output, if the catalog has it."""
    batch = model.get_prices(at, BATCH_CONTEXT)
    shares = set()
    for key in ("input", "output"):
        std, cut = _base(_rate(standard, key)), _base(_rate(batch, key))
        if not std or cut is None:
            return None
        shares.add(1 - cut / std)
    share = shares.pop() if len(shares) == 1 else None
    return share if share else None


def catalog_price(provider: str, model_id: str, *, at: datetime | None = None) -> dict[str, Any]:
    """The catalog's price of a model as a config price document (rates, tiers and the
    batch discount when the catalog publishes one). A rate the catalog does not list is
    billed as plain input (cache reads at OpenAI's and Moonshot's older models, cache
    writes where the provider charges none): the catalog prices such tokens as input."""
    at = at or datetime.now(UTC)
    model = find_model(provider, model_id)
    standard = model.get_prices(at)
    raw = {key: _rate(standard, key) for key in RATE_KEYS}
    plain = raw["input"]
    if plain is None or raw["output"] is None:
        raise CatalogMissError(f"the catalog lists no token price for '{model_id}'")
    values = {k: plain if v is None else v for k, v in raw.items()}
    starts = sorted({t.start for v in values.values() if isinstance(v, types.TieredPrices)
                     for t in v.tiers})
    doc: dict[str, Any] = {k: _text(_at(v, 0)) for k, v in values.items()}
    if starts:
        doc["tiers"] = [{"above_input_tokens": s,
                         **{k: _text(_at(v, s)) for k, v in values.items()}}
                        for s in starts]
    discount = _batch_discount(model, at, standard)
    if discount is not None:
        doc["batch_discount"] = _text(discount)
    return doc


def stable_dates(provider: str, model_id: str, at: datetime
                 ) -> tuple[date | None, date | None] | None:
    """The UTC dates `[since, until)` around `at` (None: unbounded) over which
    `catalog_price(provider, model_id)` answers the same, or None when the model's prices
    change within a day (a time-of-day price). A model the catalog does not know: always."""
    try:
        model = find_model(provider, model_id)
    except CatalogMissError:
        return None, None
    conditional = model.prices if isinstance(model.prices, list) else []
    constraints = [c.constraint for c in (*conditional, *(model.price_variants or ()))]
    starts = []
    for constraint in constraints:
        if isinstance(constraint, types.TimeOfDateConstraint):
            return None
        if isinstance(constraint, types.StartDateConstraint):
            starts.append(constraint.start_date)
    day = at.astimezone(UTC).date()
    return (max((s for s in starts if s <= day), default=None),
            min((s for s in starts if s > day), default=None))


def lookup_id(spec: dict[str, Any]) -> str:
    """The id a model of a config document has in the catalog: its `catalog_id`, else its
    `provider_model`."""
    return str(spec.get("catalog_id") or spec.get("provider_model") or "")


def resolve_document(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`document` with every `price: catalog` replaced by the catalog's numbers, and the
    names of the models resolved; a model the catalog does not know is refused by its path
    (`ConfigError`), naming what to write instead."""
    models = document.get("models")
    if not isinstance(models, dict):
        return document, []
    out, resolved, problems = dict(models), [], []
    for name, spec in models.items():
        if not isinstance(spec, dict) or spec.get("price") != "catalog":
            continue
        try:
            price = catalog_price(str(spec.get("provider", "")), lookup_id(spec))
        except CatalogMissError as exc:
            problems.append((f"models.{name}.price",
                             f"'catalog': {exc}; set models.{name}.catalog_id to the "
                             "catalog's id of this model, or give input, output, cache_read "
                             "and cache_write in USD per MTok (with their source)"))
            continue
        out[name] = {**spec, "price": price}
        resolved.append(name)
    if problems:
        raise ConfigError(problems)
    return {**document, "models": out}, sorted(resolved)
