"""Real Celery workers against a real broker, for the task-layer tests: Redis, or
RabbitMQ with LLM_ROUTER_TEST_BROKER=amqp (`tests.support.broker`).

One namespace and one broker place (a key prefix; on RabbitMQ a vhost as well) for the
whole session (the Celery app is configured once per process); each test starts from the
default routing config and a reset test LLM server. Workers run in-thread
(`start_worker`) or as subprocesses (`WorkerProcess`), both on the same broker. A test
that needs a broker of its own (only the workers it starts see its tasks) asks
`own_broker()`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from routing.config.defaults import default_document
from routing.config.store import ConfigStore
from tests.support import process
from tests.support.broker import TEST_BROKER, BrokerPlaces
from tests.support.llm_server import LLMServer
from tests.support.redis import delete_namespace

ROOT = Path(__file__).resolve().parents[2]
# The route headers' HMAC key of the test session (LLM_ROUTER_HEADER_KEYS).
HEADER_KEY = "test-route-header-key-" + "k" * 16
TIER_QUEUES = ["llm.opus", "llm.sonnet", "llm.haiku", "llm.kimi"]
ALL_QUEUES = [*TIER_QUEUES, "celery"]


class Session:
    """What the Celery tests share: environment, namespace, store, app."""

    def __init__(self, env: dict[str, str], namespace: str, app: Celery,
                 broker: BrokerPlaces) -> None:
        self.env = env
        self.namespace = namespace
        self.app = app
        self.broker = broker
        self.store = ConfigStore.from_url(env["LLM_ROUTER_REDIS_URL"], namespace)

    def reset_config(self) -> int:
        """Back to the shipped default config (a new version); wait until this process
        routes with it."""
        from workers.execution.runtime import get_runtime

        cfg = self.store.write(default_document(), author="tests", summary="reset")
        assert get_runtime().live.wait_for_version(cfg.version, timeout=5)
        return cfg.version


@pytest.fixture(scope="session")
def celery_session(redis_url: str, llm_server_session: LLMServer) -> Iterator[Session]:
    from workers.app import app
    from workers.celery_config import celery_config
    from workers.execution.runtime import reset_runtime
    from workers.settings import get_settings

    namespace = f"llmr-ctest-{uuid.uuid4().hex[:8]}"
    broker = BrokerPlaces(TEST_BROKER, redis_url)
    place = broker.place(f"{namespace}:broker:")
    env = {
        "LLM_ROUTER_REDIS_URL": redis_url,
        "LLM_ROUTER_NAMESPACE": namespace,
        **place,
        "LLM_ROUTER_PROVIDER_MODE": "live",
        "LLM_ROUTER_CONFIG_POLL_SECONDS": "0.2",
        "LLM_ROUTER_RETRY_BASE": "0.2",
        "LLM_ROUTER_RETRY_MAX": "5",
        "LLM_ROUTER_REQUEST_TIMEOUT": "10",
        # the key that seals route headers (live mode: a worker refuses to start without)
        "LLM_ROUTER_HEADER_KEYS": HEADER_KEY,
        **llm_server_session.env(),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    reset_runtime()
    from routing.config.defaults import default_config

    app.conf.update(celery_config(get_settings(), default_config()))
    import tasks  # noqa: F401  (registers every task)

    session = Session(env, namespace, app, broker)
    session.store.init(author="tests")
    yield session
    reset_runtime()
    from workers.broker.keeper import KEEPER

    KEEPER.unwatch_all()  # no more lease beats into the place deleted below
    broker.drop(place)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    delete_namespace(redis_url, namespace)


@pytest.fixture(scope="session")
def celery_worker_session(celery_session: Session) -> Iterator[Any]:
    """One in-thread worker on every tier queue and the default queue (threads pool)."""
    with start_worker(
        celery_session.app,
        pool="threads",
        concurrency=8,
        perform_ping_check=False,
        queues=ALL_QUEUES,
        shutdown_timeout=30,
        # On RabbitMQ no transport timer wakes the worker's event loop (Redis's sweeps do):
        # the worker heartbeat (every 2 s) lets it see the session end at once, not 10 s on.
        without_heartbeat=TEST_BROKER == "redis",
    ) as worker:
        yield worker


@pytest.fixture
def celery(celery_session: Session, llm_server: LLMServer) -> Iterator[Session]:
    """The session, with the default config and a reset LLM server (no worker)."""
    celery_session.reset_config()
    yield celery_session


@pytest.fixture
def worker(celery: Session, celery_worker_session: Any) -> Session:
    """The session with the in-thread worker running."""
    return celery


@pytest.fixture
def own_broker(celery: Session) -> Iterator[Callable[[], dict[str, str]]]:
    """`own_broker()`: the session's environment on a broker place of its own (a new key
    prefix; on RabbitMQ a new vhost), so that only the workers started with it see its
    tasks (not the session's in-thread worker). Each place is deleted after the test."""
    places: list[dict[str, str]] = []

    def new() -> dict[str, str]:
        place = celery.broker.place(f"{celery.namespace}:iso-{uuid.uuid4().hex[:6]}:")
        places.append(place)
        return {**celery.env, **place}

    yield new
    for place in places:
        celery.broker.drop(place)


def foreign_app(env: dict[str, str]) -> Celery:
    """A producer that does not import this project: broker URL and task name only (and
    the test's key prefix, on a Redis broker and the result backend). On RabbitMQ, so that
    it may name a tier queue, it declares queues it names as quorum queues, as docs/calling.md
    says a producer must (sending by name to the default queue needs nothing)."""
    redis_url, prefix = env["LLM_ROUTER_REDIS_URL"], env["LLM_ROUTER_BROKER_PREFIX"]
    broker_url = env.get("LLM_ROUTER_BROKER_URL", redis_url)
    app = Celery("foreign", broker=broker_url, backend=redis_url)
    if broker_url.startswith("redis"):
        app.conf.broker_transport_options = {"global_keyprefix": prefix}
    else:
        app.conf.task_create_missing_queue_type = "quorum"
    app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    app.conf.broker_connection_retry_on_startup = True
    return app


class WorkerProcess:
    """`celery -A workers.app worker` in a subprocess, on given queues (or `python
    *command`, e.g. `-m cli worker --tier haiku`)."""

    def __init__(self, env: dict[str, str], queues: list[str], name: str, *,
                 concurrency: int = 4, extra_env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None,
                 command: list[str] | None = None) -> None:
        self.name = f"{name}-{uuid.uuid4().hex[:6]}@localhost"
        cmd = [sys.executable, *command] if command else [
            sys.executable, "-m", "celery", "-A", "workers.app", "worker",
            "--queues", ",".join(queues), "--pool", "threads",
            "--concurrency", str(concurrency), "--hostname", self.name,
            "--loglevel", "INFO", "--without-mingle", "--without-gossip",
            *(extra_args or []),
        ]
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env, **(extra_env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            if " ready." in line:
                self._ready.set()

    def wait_ready(self, timeout: float = 30) -> WorkerProcess:
        if not self._ready.wait(timeout):
            raise AssertionError(f"worker {self.name} not ready:\n{''.join(self.lines[-40:])}")
        return self

    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        process.kill(self.proc)

    def stop(self) -> None:
        process.stop(self.proc)


@pytest.fixture
def isolated_producer(
    own_broker: Callable[[], dict[str, str]],
) -> Iterator[tuple[dict[str, str], Celery]]:
    """An environment with a broker of its own, and a producer on it that routes at send
    time as the project's own apps do: only the subprocess workers started with this
    environment see its tasks (not the session's in-thread worker)."""
    from routing.config.defaults import default_config
    from workers.celery_config import celery_config
    from workers.settings import Settings

    env = own_broker()
    producer = Celery("producer")
    producer.conf.update(celery_config(Settings(**env), default_config()))
    yield env, producer
    producer.close()


@pytest.fixture
def worker_processes(celery: Session) -> Iterator[list[WorkerProcess]]:
    """Start subprocess workers with `procs.append(WorkerProcess(...))`; stopped after."""
    procs: list[WorkerProcess] = []
    yield procs
    for proc in procs:
        proc.stop()
