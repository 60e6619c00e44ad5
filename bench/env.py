"""The bench's own corner of the real Redis: a database, a namespace and a broker key
prefix unique to this run, the local test LLM server, and the environment that points
this process and its worker subprocesses at them. Every key is deleted afterwards."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from routing.redis_url import redact_url
from tests.support.llm_server import LLMServer

ROOT = Path(__file__).resolve().parent.parent
# Not db 0 (a deployment's) and not db 11 (the test suite's).
BENCH_DB = 13
DEFAULT_REDIS_URL = f"redis://127.0.0.1:6379/{BENCH_DB}"
BENCH_URL_VAR = "LLM_ROUTER_BENCH_REDIS_URL"
DEPLOYMENT_URL_VAR = "LLM_ROUTER_REDIS_URL"


def with_database(url: str, db: int) -> str:
    """The same Redis server (scheme, credentials, host, port) with database `db`."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        # (urlunsplit would drop the empty netloc's "//")
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def bench_redis_url(given: str | None, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The Redis the bench runs on, and a note saying how it was chosen (or None).

    `--redis-url` wins; else LLM_ROUTER_BENCH_REDIS_URL; else, when LLM_ROUTER_REDIS_URL
    names a deployment's Redis, that server but database 13 (never the deployment's own
    database: the bench writes and deletes keys); else redis://127.0.0.1:6379/13.
    """
    if given:
        return given, None
    if environ.get(BENCH_URL_VAR):
        return environ[BENCH_URL_VAR], None
    deployment = environ.get(DEPLOYMENT_URL_VAR)
    if deployment:
        url = with_database(deployment, BENCH_DB)
        return url, (f"bench: using {redact_url(url)}: the server of {DEPLOYMENT_URL_VAR}, "
                     f"database {BENCH_DB} (set --redis-url or {BENCH_URL_VAR} to choose)")
    return DEFAULT_REDIS_URL, None


@dataclass
class BenchEnv:
    redis_url: str
    namespace: str
    server: LLMServer
    # The run's route-header key: live workers refuse to start without one, and the bench's
    # producers and workers must share it.
    header_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def broker_prefix(self) -> str:
        return f"{self.namespace}:broker:"

    def env(self) -> dict[str, str]:
        return {
            "LLM_ROUTER_REDIS_URL": self.redis_url,
            "LLM_ROUTER_NAMESPACE": self.namespace,
            "LLM_ROUTER_BROKER_PREFIX": self.broker_prefix,
            "LLM_ROUTER_PROVIDER_MODE": "live",
            "LLM_ROUTER_HEADER_KEYS": self.header_key,
            "LLM_ROUTER_REQUEST_TIMEOUT": "30",
            **self.server.env(),
        }

    @property
    def patterns(self) -> tuple[str, str]:
        """The run's routing keys (under the namespace's hash tag) and broker keys."""
        return "{" + self.namespace + "}:*", f"{self.namespace}:*"

    def keys(self) -> list[bytes]:
        client = redis.Redis.from_url(self.redis_url)
        try:
            return [k for p in self.patterns for k in client.scan_iter(match=p, count=1000)]
        finally:
            client.close()

    def clean(self) -> int:
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = [k for p in self.patterns for k in client.scan_iter(match=p, count=1000)]
            for i in range(0, len(keys), 1000):
                client.delete(*keys[i : i + 1000])
            return len(keys)
        finally:
            client.close()


@contextmanager
def bench_env(redis_url: str) -> Iterator[BenchEnv]:
    """Set up this process (settings, Celery app, routing config) for a bench run."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    finally:
        client.close()
    namespace = f"llmr-bench-{uuid.uuid4().hex[:10]}"
    with LLMServer() as server:
        benv = BenchEnv(redis_url, namespace, server)
        saved = {k: os.environ.get(k) for k in benv.env()}
        os.environ.update(benv.env())
        try:
            _configure(benv)
            yield benv
        finally:
            _unconfigure()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            benv.clean()


def _configure(benv: BenchEnv) -> None:
    from routing.config.defaults import default_config
    from routing.config.store import ConfigStore
    from workers.app import app
    from workers.celery_config import celery_config
    from workers.execution.runtime import reset_runtime
    from workers.settings import get_settings

    get_settings.cache_clear()
    reset_runtime()
    app.conf.update(celery_config(get_settings(), default_config()))
    import bench.bare_tasks  # noqa: F401  (registers the bare tasks)
    import tasks  # noqa: F401  (registers llm.run)

    ConfigStore.from_url(benv.redis_url, benv.namespace).init(author="bench")


def _unconfigure() -> None:
    from workers.app import app
    from workers.execution.runtime import reset_runtime
    from workers.settings import get_settings

    try:
        app.close()  # the producer pool and the result consumer's connections
    finally:
        reset_runtime()
        get_settings.cache_clear()
