"""The routing config in Redis: validated, versioned, with history and change events.

Keys (all under `{<namespace>}:config:`, the namespace in braces: its Redis Cluster hash
tag):
- `version`  the current version number (the cheap check: one GET of a small key)
- `current`  the current document as JSON (it includes its `version`)
- `docs`     hash version -> document, for `get_version` and `rollback`
- `history`  list of JSON entries, newest first: version, at, author, summary, changes
- `seal`     the current document's seal; `seals`: hash version -> that version's seal
  (`routing.config.seal`: a document read with its seal is not validated again)
Channel `{<namespace>}:config:changed` carries the new version number after every write.

Every write validates with `load_config` first (a refused document writes nothing), then
one Lua script checks the version, stores, appends history, trims it and publishes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from routing.connect import connect
from routing.decode import text
from routing.errors import (
    ConfigError,
    ConfigExistsError,
    ConfigNotInitializedError,
    StoreUnavailableError,
    UnknownVersionError,
    VersionConflictError,
)
from routing.keys import keyspace

if TYPE_CHECKING:
    from routing.config.models import RoutingConfig

T = TypeVar("T")
_RETRIES = 8

# KEYS: version, current, docs, history, seal, seals. ARGV: base, document, entry, limit,
# channel, the document's seal. Returns {1, new_version} when written, {0, actual_version}
# when `base` is stale.
_WRITE = """
local actual = tonumber(redis.call('GET', KEYS[1]) or '0')
local base = tonumber(ARGV[1])
if actual ~= base then return {0, actual} end
local new = base + 1
local seal = ARGV[6]
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[5], seal)
redis.call('HSET', KEYS[3], tostring(new), ARGV[2])
redis.call('HSET', KEYS[6], tostring(new), seal)
redis.call('LPUSH', KEYS[4], ARGV[3])
local limit = tonumber(ARGV[4])
redis.call('LTRIM', KEYS[4], 0, limit - 1)
for _, kept in ipairs({KEYS[3], KEYS[6]}) do
  for _, field in ipairs(redis.call('HKEYS', kept)) do
    if tonumber(field) <= new - limit then redis.call('HDEL', kept, field) end
  end
end
redis.call('SET', KEYS[1], tostring(new))
redis.call('PUBLISH', ARGV[5], tostring(new))
return {1, new}
"""


def _resolve_catalog_prices(document: dict[str, Any], summary: str) -> tuple[dict[str, Any], str]:
    """`price: catalog` replaced by the catalog's numbers (stored so in this version), the
    summary saying so. The catalog is imported only when a model asks for it."""
    models = document.get("models")
    if not isinstance(models, dict) or not any(
            isinstance(spec, dict) and spec.get("price") == "catalog" for spec in models.values()):
        return document, summary
    from routing.catalog import lookup as catalog

    document, names = catalog.resolve_document(document)
    note = f"prices of {', '.join(names)} from the catalog: {catalog.info().shown()}"
    return document, f"{summary}; {note}" if summary else note


class ConfigStore:
    """The versioned routing config of one namespace, in Redis."""

    def __init__(
        self, redis: redis.Redis, namespace: str, *, history_limit: int = 200
    ) -> None:
        if history_limit < 100:
            raise ValueError(f"history_limit must be at least 100, got {history_limit}")
        self.redis = redis
        self.namespace = namespace
        self.history_limit = history_limit
        prefix = f"{keyspace(namespace)}:config"
        self.version_key = f"{prefix}:version"
        self.current_key = f"{prefix}:current"
        self.docs_key = f"{prefix}:docs"
        self.history_key = f"{prefix}:history"
        self.seal_key = f"{prefix}:seal"
        self.seals_key = f"{prefix}:seals"
        self.channel = f"{prefix}:changed"
        self._write_script = redis.register_script(_WRITE)

    @classmethod
    def from_url(cls, url: str, namespace: str, **kwargs: Any) -> ConfigStore:
        """The store of a deployment, given its Redis URL and namespace."""
        client = connect(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        return cls(client, namespace, **kwargs)

    @contextmanager
    def _io(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(
                f"cannot reach Redis at {self._where()} ({exc}); check LLM_ROUTER_REDIS_URL "
                "and that Redis is running"
            ) from None
        except redis.ResponseError as exc:
            # The server answered with an error: a database number out of range, a user
            # without permission, a read-only replica, out of memory.
            raise StoreUnavailableError(
                f"Redis at {self._where()} refused the request ({exc}); check "
                "LLM_ROUTER_REDIS_URL (host, database number, user) and the server"
            ) from None

    def _where(self) -> str:
        pool = getattr(self.redis, "connection_pool", None)
        kwargs = pool.connection_kwargs if pool is not None else {}
        where = f"{kwargs.get('host', kwargs.get('path', 'the cluster'))}"
        db = f"/{kwargs['db']}" if kwargs.get("db") else ""
        return where + (f":{kwargs['port']}" if "port" in kwargs else "") + db

    # -- reads ---------------------------------------------------------------------------
    def version(self) -> int:
        """The current version (0 if no config is stored): one GET of a small key."""
        with self._io():
            raw = self.redis.get(self.version_key)
        return int(text(raw)) if raw is not None else 0

    def read(self) -> RoutingConfig:
        return self._read()[0]

    def _read(self) -> tuple[RoutingConfig, bool]:
        """The current config, and whether it was stored under this installation's seal."""
        with self._io():
            # one round trip: the keys share the namespace's hash tag (one Cluster slot)
            raw, seal = self.redis.mget(self.current_key, self.seal_key)
        if raw is None:
            raise ConfigNotInitializedError(self.namespace)
        return self._parse(raw, seal, "current")

    def get_version(self, version: int) -> RoutingConfig:
        with self._io():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(self.docs_key, str(version))
            pipe.hget(self.seals_key, str(version))
            raw, seal = pipe.execute()
            if raw is None:
                kept = [int(text(v)) for v in self.redis.hkeys(self.docs_key)]
                raise UnknownVersionError(version, kept)
        return self._parse(raw, seal, f"version {version}")[0]

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """History entries, newest first."""
        if limit < 1:
            return []
        with self._io():
            raw = self.redis.lrange(self.history_key, 0, limit - 1)
        return [json.loads(text(item)) for item in raw]

    def _current(self) -> tuple[RoutingConfig | None, bool]:
        return self._read() if self.version() else (None, False)

    def _parse(self, raw: Any, seal: Any, what: str) -> tuple[RoutingConfig, bool]:
        # the config's modules load with the first config read: the history and the
        # version need none. A document with this installation's seal was validated when
        # written: it is built without validating again (no pydantic); any other, in full.
        from routing.config.load import load_config, read_config
        from routing.config.seal import sealed

        stored = raw.encode() if isinstance(raw, str) else raw
        try:
            document = json.loads(stored)
            if sealed(stored, seal):
                return read_config(document), True
            return load_config(document), False
        except (ValueError, ConfigError) as exc:
            raise ConfigError(
                [("", f"the stored config ({what}) under '{self.namespace}' is corrupt: {exc}")]
            ) from None

    # -- writes --------------------------------------------------------------------------
    def write(
        self,
        document: dict[str, Any] | RoutingConfig,
        *,
        author: str,
        summary: str = "",
        expect_version: int | None = None,
    ) -> RoutingConfig:
        """Validate, then store as version + 1 with a history entry, atomically.

        A document equal to the current one is not a change: nothing is written and the
        current config is returned as it is (same version, history untouched), unless the
        current one is not under this installation's seal (`routing.config.seal`: written
        by hand, or by an installation that validates differently): then it is written as
        a new version, so that it is sealed.
        With `expect_version`, raise `VersionConflictError` if the store holds another
        version. Without it, the write lands on whatever version is current.
        """
        from routing.config.diff import changed_paths
        from routing.config.load import load_config
        from routing.config.models import RoutingConfig
        from routing.config.seal import seal

        if isinstance(document, RoutingConfig):
            document = document.document()
        if not isinstance(document, dict):
            load_config(document)  # raises ConfigError naming what it got
        document, summary = _resolve_catalog_prices(document, summary)
        config = load_config({**document, "version": 0})
        new_doc = config.document()
        for _ in range(_RETRIES):
            current, current_sealed = self._current()
            base = current.version if current is not None else 0
            if expect_version is not None and base != expect_version:
                raise VersionConflictError(expect_version, base)
            changes = changed_paths(current.document() if current else {}, new_doc)
            if current is not None and not changes and current_sealed:
                return current
            said = summary
            if current is not None and not changes:  # the same, not under this seal
                said = f"{summary}; sealed" if summary else "sealed"
            entry = {
                "version": base + 1,
                "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "author": author,
                "summary": said,
                "changes": changes,
            }
            stored = json.dumps({**new_doc, "version": base + 1}).encode()
            keys = [self.version_key, self.current_key, self.docs_key, self.history_key,
                    self.seal_key, self.seals_key]
            args: list[bytes | str | int] = [
                base, stored, json.dumps(entry), self.history_limit, self.channel, seal(stored)
            ]
            with self._io():
                ok, actual = self._write_script(keys=keys, args=args)
            if ok:
                return replace(config, version=int(actual))
            if expect_version is not None:
                raise VersionConflictError(expect_version, int(actual))
        raise VersionConflictError(base, self.version())

    def init(
        self,
        document: dict[str, Any] | RoutingConfig | None = None,
        *,
        force: bool = False,
        author: str,
    ) -> RoutingConfig:
        """Store the first config (the shipped default when `document` is None)."""
        from routing.config.defaults import default_document

        doc = default_document() if document is None else document
        current = self.version()
        if current and not force:
            raise ConfigExistsError(current)
        summary = "init (replaced)" if current else "init"
        try:
            return self.write(doc, author=author, summary=summary, expect_version=current)
        except VersionConflictError as exc:
            if force:
                raise
            raise ConfigExistsError(exc.actual) from None

    def update(
        self,
        change: Callable[[dict[str, Any]], str],
        *,
        author: str,
        expect_version: int | None = None,
    ) -> RoutingConfig:
        """Read-modify-write: `change` edits the document and returns a summary.

        Without `expect_version`, a concurrent write makes it re-read and re-apply.
        """
        for _ in range(_RETRIES):
            current = self.read()
            if expect_version is not None and current.version != expect_version:
                raise VersionConflictError(expect_version, current.version)
            doc = current.document()
            summary = change(doc)
            try:
                return self.write(
                    doc, author=author, summary=summary, expect_version=current.version
                )
            except VersionConflictError:
                if expect_version is not None:
                    raise
        raise VersionConflictError(current.version, self.version())

    def set_model(
        self, model_key: str, model: str, *, author: str, expect_version: int | None = None
    ) -> RoutingConfig:
        """Route `model_key` to `model` (removing `model` from the key's fallbacks)."""

        def change(doc: dict[str, Any]) -> str:
            keys = doc["model_keys"]
            if model_key not in keys:
                raise ConfigError(
                    [(f"model_keys.{model_key}",
                      f"unknown model key (known: {', '.join(sorted(keys))})")]
                )
            spec = keys[model_key]
            old = spec["model"]
            spec["model"] = model
            spec["fallbacks"] = [m for m in spec.get("fallbacks", []) if m != model]
            return f"set {model_key}: {old} -> {model}"

        return self.update(change, author=author, expect_version=expect_version)

    def rollback(
        self, version: int, *, author: str, expect_version: int | None = None
    ) -> RoutingConfig:
        """A new version whose document equals that of `version`."""
        target = self.get_version(version)
        return self.write(
            target, author=author, summary=f"rollback to version {version}",
            expect_version=expect_version,
        )

    def delete_all(self) -> None:
        """Remove every key of this store (tests and benchmarks)."""
        with self._io():
            self.redis.delete(self.version_key, self.current_key, self.docs_key, self.history_key,
                              self.seal_key, self.seals_key)
