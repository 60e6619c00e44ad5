"""The system the demo plays against.

- `offline()`: everything in this process. An in-process Redis stand-in (fakeredis, with
  Lua, so the store, budget and ledger scripts run as they do on Redis) holds the config
  and the ledger; kombu's `memory://` transport is the broker and `cache+memory://` the
  result backend; the simulated provider answers; one Celery worker per tier runs in a
  thread, on its tier's queue with its tier's profile (concurrency capped for the demo).
- `against_redis(url, namespace)`: the config store, ledger and broker of a real Redis,
  in the demo's own namespace and broker prefix (`cli.demo.namespace`: a deployment's
  namespace is refused), and whatever workers consume the demo's queues there; no worker
  is started here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import fakeredis
from celery import Celery

from routing.config.defaults import default_config
from routing.config.models import RoutingConfig
from routing.redis_url import redact_url
from workers.celery_config import celery_config
from workers.contract import DEFAULT_QUEUE
from workers.execution.runtime import Runtime, install_runtime, reset_runtime
from workers.settings import Settings, get_settings

AUTHOR = "llm-router demo"
MEMORY_BROKER = "memory://"
MEMORY_BACKEND = "cache+memory://"
# The in-process broker is polled; a short interval keeps hops (re-publishes) quick.
MEMORY_POLL_SECONDS = 0.01


@dataclass
class System:
    app: Celery
    rt: Runtime
    mode: str  # "offline" or "redis"
    where: str
    workers: list[str] = field(default_factory=list)


def configure_app(settings: Settings, **overrides: Any) -> Celery:
    """The project's Celery app, configured from `settings` (plus `overrides`)."""
    from workers.app import app

    app.conf.update({**celery_config(settings, default_config()), **overrides})
    import tasks  # noqa: F401  (registers every task, so that sends by name are routed)

    app.finalize()
    app.set_current()
    # Worker pool threads run each task of `current_app`, which is the default app in a
    # thread that has none of its own: make it this one (a Celery worker process does the
    # same in `setup_worker_optimizations`).
    app.set_default()
    return app


def tier_app(main: Celery) -> Celery:
    """A Celery app with `main`'s configuration and tasks, for one in-thread worker.

    A worker selects the queues it consumes on its app (`app.amqp.queues`), so workers on
    different queues in one process need one app each, as separate processes have. The
    project's tasks are shared tasks: a new app gets its own instance of each on
    finalize, exactly as a worker process importing `workers.app` does.
    """
    app = Celery(main.main, set_as_current=False)
    app.conf.update({k: v for k, v in main.conf.items() if k not in _NOT_COPIED})
    for blueprint, steps in main.steps.items():  # the project's worker bootstep
        app.steps[blueprint].update(steps)
    app.finalize()
    return app


_NOT_COPIED = frozenset({"deprecated_settings"})


class TierWorkers:
    """One in-thread Celery worker per tier of `config`, each on its tier's queue (and the
    default queue for a dispatching tier) with its pool and prefetch, concurrency capped."""

    def __init__(self, main: Celery, config: RoutingConfig, *, max_concurrency: int) -> None:
        self.controllers: list[Any] = []
        self.threads: list[threading.Thread] = []
        self.names: list[str] = []
        self._ready: list[threading.Event] = []
        for name, tier in config.tiers.items():
            queues = [tier.queue, DEFAULT_QUEUE] if tier.dispatch else [tier.queue]
            concurrency = min(tier.concurrency, max_concurrency)
            ready = threading.Event()
            hostname = f"{name}@demo"
            controller = tier_app(main).WorkController(
                hostname=hostname,
                queues=queues,
                pool=str(tier.pool),
                concurrency=concurrency,
                prefetch_multiplier=tier.prefetch,
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
                ready_callback=lambda *_, ev=ready: ev.set(),
            )
            self.controllers.append(controller)
            self._ready.append(ready)
            self.names.append(f"{hostname} ({', '.join(queues)}; {tier.pool} x{concurrency})")

    def start(self, timeout: float = 20.0) -> None:
        for controller in self.controllers:
            thread = threading.Thread(target=controller.start, name="demo-worker", daemon=True)
            thread.start()
            self.threads.append(thread)
        for ready in self._ready:
            if not ready.wait(timeout):
                raise RuntimeError("an in-process demo worker did not start")

    def stop(self, timeout: float = 20.0) -> None:
        from celery.worker import state

        # Every consumer loop of this process stops (warm), as `start_worker` does it.
        setattr(state, "should_terminate", 0)  # noqa: B010  (typed None in celery-types)
        for thread in self.threads:
            thread.join(timeout)
        state.should_terminate = None


@contextmanager
def offline(*, latency: float, max_concurrency: int = 4,
            error_rates: dict[str, float] | None = None,
            format_error_rate: float = 0.0) -> Iterator[System]:
    settings = get_settings().model_copy(update={
        "simulated_error_rates": dict(error_rates or {}),
        "simulated_format_error_rate": format_error_rate,
        "broker_url": MEMORY_BROKER,
        "result_backend": MEMORY_BACKEND,
        "broker_prefix": "",
        "provider_mode": "simulated",
        "simulated_latency": latency,
        "config_poll_seconds": 0.2,
        "metrics_port": 0,
    })
    rt = install_runtime(Runtime(settings, client=fakeredis.FakeRedis()))
    try:
        rt.store.init(author=AUTHOR)
        config = rt.live.get()
        app = configure_app(
            settings,
            broker_transport_options={"polling_interval": MEMORY_POLL_SECONDS},
            result_backend_transport_options={},
            worker_send_task_events=False,
            task_send_sent_event=False,
            worker_hijack_root_logger=False,
        )
        workers = TierWorkers(app, config, max_concurrency=max_concurrency)
        workers.start()
        try:
            yield System(app, rt, "offline", "in-process (fakeredis, memory:// broker, "
                         "simulated provider)", workers.names)
        finally:
            workers.stop()
    finally:
        reset_runtime()


@contextmanager
def against_redis(url: str, namespace: str) -> Iterator[System]:
    from cli.demo.namespace import broker_prefix, claim

    settings = get_settings().model_copy(
        update={"redis_url": url, "broker_url": url, "result_backend": url,
                "namespace": namespace, "broker_prefix": broker_prefix(namespace)}
    )
    rt = install_runtime(Runtime(settings))
    try:
        claim(rt.redis, rt.store)  # before anything is written
        if not rt.store.version():
            rt.store.init(author=AUTHOR)
        rt.live.get()
        app = configure_app(settings)
        yield System(app, rt, "redis", redact_url(url))
    finally:
        reset_runtime()
