"""The price catalog's answers, memoised on disk: a model's price document and the
catalog's description, as `routing.catalog.lookup` gives them, without loading genai-prices.

The catalog reads the data bundled in the installed `genai-prices`, which never changes
for an installation: its answers are a function of that installation (its version and
data file) and of `routing.catalog.lookup`'s code, and a price of the date asked about. So the
answers are kept in one JSON file, `llm-router/catalog.json` under `$XDG_CACHE_HOME`
(default `~/.cache`), with that installation's key; each price with the UTC dates over
which the catalog gives it. A file of another key, unreadable or corrupt is ignored and
written anew; a directory that cannot be written only leaves the answers uncached. A
price asked at a given time, a model priced by the time of day, and fetched prices
(`--latest`) always come from the catalog itself.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from datetime import UTC, date, datetime
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from routing.catalog.info import CatalogInfo
from routing.errors import CatalogMissError

FILE = Path("llm-router") / "catalog.json"
_DIST = "genai_prices"
RATES = ("input", "output", "cache_read", "cache_write")  # in every price document

_loaded: dict[Path, dict[str, Any]] = {}


def cache_file() -> Path | None:
    """Where the answers are kept (None: no home directory to keep them under)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return Path(base) / FILE
    try:
        return Path.home() / ".cache" / FILE
    except RuntimeError:
        return None


@cache
def installation_key() -> dict[str, Any] | None:
    """What the answers are a function of: the installed genai-prices (its dist-info, its
    data file's path, size and modification time) and `routing.catalog.lookup`'s source file."""
    spec = find_spec(_DIST)
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    try:
        data = (package / "data.py").stat()
        reader = Path(__file__).with_name("lookup.py").stat()
        dists = sorted(n for n in os.listdir(package.parent)
                       if n.startswith(f"{_DIST}-") and n.endswith(".dist-info"))
    except OSError:
        return None
    return {"dist": dists, "data": [str(package), data.st_size, data.st_mtime_ns],
            "reader": [reader.st_size, reader.st_mtime_ns]}


def _fetched() -> bool:
    if "routing.catalog.lookup" not in sys.modules:  # nothing fetched without it
        return False
    from routing.catalog import lookup

    return lookup.fetched()


def _answers() -> tuple[Path | None, dict[str, Any]]:
    """The cache file and its answers (empty when absent, unreadable, corrupt or of
    another installation)."""
    path, key = cache_file(), installation_key()
    if path is None or key is None:
        return None, {"key": None, "prices": {}}
    if path not in _loaded or _loaded[path].get("key") != key:
        try:
            answers = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            answers = None
        if (not isinstance(answers, dict) or answers.get("key") != key
                or not isinstance(answers.get("prices"), dict)):
            answers = {"key": key, "prices": {}}
        _loaded[path] = answers
    return path, _loaded[path]


def _store(path: Path | None, answers: dict[str, Any]) -> None:
    """Write `answers` whole, atomically; a directory that cannot be written is skipped."""
    if path is None:
        return
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".catalog-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(answers, out, separators=(",", ":"))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass


def _dated(text: Any) -> date | None:
    return date.fromisoformat(text) if isinstance(text, str) else None


def _kept(entry: Any, day: date) -> dict[str, Any] | None:
    """A stored answer that holds on `day` (None: none, or not well formed)."""
    if not isinstance(entry, dict):
        return None
    try:
        since, until = _dated(entry.get("since")), _dated(entry.get("until"))
    except ValueError:
        return None
    if (since and day < since) or (until and day >= until):
        return None
    price = entry.get("price")
    if isinstance(price, dict) and all(isinstance(price.get(k), str) for k in RATES):
        return entry
    return entry if isinstance(entry.get("miss"), str) else None


def catalog_price(provider: str, model_id: str, *, at: datetime | None = None
                  ) -> dict[str, Any]:
    """`routing.catalog.lookup.catalog_price`, from the cache when it holds the answer."""
    if at is not None or _fetched():
        from routing.catalog import lookup

        return lookup.catalog_price(provider, model_id, at=at)
    now = datetime.now(UTC)
    path, answers = _answers()
    name = f"{provider}\n{model_id}"
    entry = _kept(answers["prices"].get(name), now.date())
    if entry is None:
        entry = _asked(provider, model_id, now)
        if entry is None:  # priced by the time of day: not kept
            from routing.catalog import lookup

            return lookup.catalog_price(provider, model_id, at=now)
        answers["prices"][name] = entry
        _store(path, answers)
    if "miss" in entry:
        raise CatalogMissError(entry["miss"])
    return copy.deepcopy(entry["price"])


def _asked(provider: str, model_id: str, now: datetime) -> dict[str, Any] | None:
    """The catalog's answer to keep, with the dates it holds over (None: not to keep)."""
    from routing.catalog import lookup

    dates = lookup.stable_dates(provider, model_id, now)
    if dates is None:
        return None
    since, until = (None if d is None else d.isoformat() for d in dates)
    try:
        return {"since": since, "until": until,
                "price": lookup.catalog_price(provider, model_id, at=now)}
    except CatalogMissError as exc:
        return {"since": since, "until": until, "miss": str(exc)}


def info() -> CatalogInfo:
    """`routing.catalog.lookup.info`, from the cache when it holds it."""
    if _fetched():
        from routing.catalog import lookup

        return lookup.info()
    path, answers = _answers()
    kept = answers.get("info")
    if (isinstance(kept, dict) and set(kept) == {"package", "version", "data_date", "fetched"}
            and isinstance(kept["package"], str) and isinstance(kept["version"], str)
            and isinstance(kept["data_date"], str | None) and kept["fetched"] is False):
        return CatalogInfo(**kept)
    return _info(path, answers)


def _info(path: Path | None, answers: dict[str, Any]) -> CatalogInfo:
    from routing.catalog import lookup

    found = lookup.info()
    answers["info"] = found.as_dict()
    _store(path, answers)
    return found
