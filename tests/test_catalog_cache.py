"""The catalog's answers memoised on disk (routing.catalog.cache): the same answers as the
catalog, served without it once kept; a corrupt file, another installation's file or an
answer past its dates is asked of the catalog again; a directory that cannot be written
leaves the answers uncached; fetched prices and prices at a given time bypass the cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from routing.catalog import cache as catalog_cache
from routing.catalog import lookup as catalog
from routing.config.defaults import default_config
from routing.errors import CatalogMissError

SHIPPED = default_config()
ASKED = sorted({(s.provider.value, s.catalog_id or s.provider_model)
                for s in SHIPPED.models.values()})


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(catalog_cache, "_loaded", {})
    return tmp_path / "llm-router" / "catalog.json"


def answer(provider: str, model_id: str, ask: Any) -> dict[str, Any] | str:
    try:
        return dict(ask(provider, model_id))
    except CatalogMissError as exc:
        return f"miss: {exc}"


def asked_of_the_catalog(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (provider, model id) the catalog is asked for prices from now on."""
    asked: list[tuple[str, str]] = []
    real = catalog.catalog_price

    def counted(provider: str, model_id: str, *, at: datetime | None = None) -> Any:
        asked.append((provider, model_id))
        return real(provider, model_id, at=at)

    monkeypatch.setattr(catalog, "catalog_price", counted)
    return asked


def test_kept_answers_equal_the_catalogs_and_need_it_no_more(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = [*ASKED, ("openai", "no-such-model"), ("nowhere", "gpt-4o")]
    expected = {a: answer(*a, catalog.catalog_price) for a in everything}
    assert any(isinstance(v, str) for v in expected.values())  # misses are kept too
    assert {a: answer(*a, catalog_cache.catalog_price) for a in everything} == expected
    assert catalog_cache.info() == catalog.info()
    assert cache_home.exists()

    # a new process: the file alone answers
    monkeypatch.setattr(catalog_cache, "_loaded", {})
    asked = asked_of_the_catalog(monkeypatch)
    monkeypatch.setattr(catalog, "info", lambda: pytest.fail("the catalog was asked"))
    assert {a: answer(*a, catalog_cache.catalog_price) for a in everything} == expected
    assert catalog_cache.info() == catalog.CatalogInfo(**json.loads(
        cache_home.read_text())["info"])
    assert asked == []


@pytest.mark.parametrize("content", ["{not json", "[]", '{"key": 1}', "\x00\xff"])
def test_a_corrupt_file_is_ignored_and_written_anew(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    cache_home.parent.mkdir(parents=True)
    cache_home.write_text(content)
    provider, model_id = ASKED[0]
    assert catalog_cache.catalog_price(provider, model_id) == catalog.catalog_price(
        provider, model_id)
    assert catalog_cache.info() == catalog.info()
    kept = json.loads(cache_home.read_text())
    assert kept["key"] == catalog_cache.installation_key()
    assert f"{provider}\n{model_id}" in kept["prices"]


def test_a_corrupt_answer_is_asked_again(cache_home: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    provider, model_id = ASKED[0]
    expected = catalog_cache.catalog_price(provider, model_id)
    kept = json.loads(cache_home.read_text())
    kept["prices"][f"{provider}\n{model_id}"] = {"since": "yesterday", "price": {"input": 1}}
    kept["info"] = {"package": 1}
    cache_home.write_text(json.dumps(kept))
    monkeypatch.setattr(catalog_cache, "_loaded", {})
    asked = asked_of_the_catalog(monkeypatch)
    assert catalog_cache.catalog_price(provider, model_id) == expected
    assert catalog_cache.info() == catalog.info()
    assert asked == [(provider, model_id)]


def test_another_installations_answers_are_not_used(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provider, model_id = ASKED[0]
    expected = catalog_cache.catalog_price(provider, model_id)
    kept = json.loads(cache_home.read_text())
    kept["prices"][f"{provider}\n{model_id}"]["price"]["input"] = "999"
    cache_home.write_text(json.dumps(kept))
    other = {**kept["key"], "dist": ["genai_prices-0.0.1.dist-info"]}
    monkeypatch.setattr(catalog_cache, "installation_key", lambda: other)
    asked = asked_of_the_catalog(monkeypatch)
    assert catalog_cache.catalog_price(provider, model_id) == expected
    assert asked == [(provider, model_id)]
    assert json.loads(cache_home.read_text())["key"] == other


def test_an_answer_past_its_dates_is_asked_again(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provider, model_id = ASKED[0]
    expected = catalog_cache.catalog_price(provider, model_id)
    kept = json.loads(cache_home.read_text())
    kept["prices"][f"{provider}\n{model_id}"].update(
        {"until": "2000-01-01", "price": {**expected, "input": "999"}})
    cache_home.write_text(json.dumps(kept))
    monkeypatch.setattr(catalog_cache, "_loaded", {})
    asked = asked_of_the_catalog(monkeypatch)
    assert catalog_cache.catalog_price(provider, model_id) == expected
    assert asked == [(provider, model_id)]


def test_a_directory_that_cannot_be_written_leaves_the_answers_uncached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    provider, model_id = ASKED[0]
    assert catalog_cache.catalog_price(provider, model_id) == catalog.catalog_price(
        provider, model_id)
    assert catalog_cache.info() == catalog.info()


def test_fetched_prices_a_given_time_and_time_of_day_prices_come_from_the_catalog(
        cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provider, model_id = ASKED[0]
    asked = asked_of_the_catalog(monkeypatch)
    catalog_cache.catalog_price(provider, model_id, at=datetime(2026, 1, 1, tzinfo=UTC))
    assert asked and not cache_home.exists()
    monkeypatch.setattr(catalog, "stable_dates", lambda *_: None)  # priced by the hour
    catalog_cache.catalog_price(provider, model_id)
    catalog_cache.catalog_price(provider, model_id)
    assert len(asked) == 3 and not cache_home.exists()
    monkeypatch.setattr(catalog, "_fetches_in_force", 1)  # inside with_latest_prices
    monkeypatch.setattr(catalog, "info", lambda: "fetched")
    assert catalog_cache.info() == "fetched"  # type: ignore[comparison-overlap]


def test_stable_dates_bound_the_answer() -> None:
    # the answer of today is the answer on the first and the last day of its dates
    now = datetime.now(UTC)
    for provider, model_id in ASKED:
        dates = catalog.stable_dates(provider, model_id, now)
        assert dates is not None  # the shipped models have no time-of-day prices
        since, until = dates
        days = [since, None if until is None else until - timedelta(days=1)]
        for day in (d for d in days if d is not None):
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            assert answer(provider, model_id, partial(catalog.catalog_price, at=at)) == answer(
                provider, model_id, catalog.catalog_price), (provider, model_id, day)
