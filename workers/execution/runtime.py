"""Per-process singletons: one Redis client, one live config, one provider registry.

Built lazily from `Settings` on first use and rebuilt in a forked child (Celery's
prefork pool), so that no connection or thread is shared across a fork. A process that
builds its own (the offline demo: an in-process Redis stand-in) installs it with
`install_runtime`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property

import redis

from routing.batches.store import BatchStore
from routing.config.store import ConfigStore
from routing.connect import connect
from routing.live import LiveConfig
from routing.router import Router
from routing.samples.store import SampleStore
from routing.spend.budget import BudgetBook
from routing.spend.cooldown import Cooldowns
from routing.spend.deferred import DeferredTasks
from routing.spend.ledger import Ledger
from workers.providers.registry import Providers
from workers.settings import Settings, get_settings


@dataclass
class Runtime:
    settings: Settings
    pid: int = field(default_factory=os.getpid)
    # A ready client (e.g. `fakeredis.FakeRedis()`) instead of one for `settings.redis_url`.
    client: redis.Redis | None = None
    _live: LiveConfig | None = field(default=None, init=False, repr=False)
    _live_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @cached_property
    def redis(self) -> redis.Redis:
        if self.client is not None:
            return self.client
        return connect(self.settings.redis_url, health_check_interval=30)

    @cached_property
    def store(self) -> ConfigStore:
        return ConfigStore(self.redis, self.settings.namespace)

    @property
    def live(self) -> LiveConfig:
        # Many threads (a producer's web server, a worker's pool) may ask first at once:
        # exactly one LiveConfig (and one watcher thread) per runtime.
        live = self._live
        if live is None:
            with self._live_lock:
                live = self._live
                if live is None:
                    live = LiveConfig(self.store, poll_seconds=self.settings.config_poll_seconds)
                    live.start()
                    self._live = live
        return live

    @property
    def router(self) -> Router:
        return self.live.router

    @cached_property
    def providers(self) -> Providers:
        return Providers(self.settings)

    @cached_property
    def budgets(self) -> BudgetBook:
        return BudgetBook(self.redis, self.settings.namespace,
                          keep_days=self.settings.ledger_keep_days,
                          run_keep_days=self.settings.run_keep_days)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.redis, self.settings.namespace, keep_days=self.settings.ledger_keep_days,
                      run_keep_days=self.settings.run_keep_days)

    @cached_property
    def cooldowns(self) -> Cooldowns:
        return Cooldowns(self.redis, self.settings.namespace)

    @cached_property
    def batches(self) -> BatchStore:
        return BatchStore(self.redis, self.settings.namespace)

    @cached_property
    def samples(self) -> SampleStore:
        return SampleStore(self.redis, self.settings.namespace)

    @cached_property
    def deferred(self) -> DeferredTasks:
        return DeferredTasks(self.redis, self.settings.namespace)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
        if "redis" in self.__dict__:
            self.redis.close()


_lock = threading.Lock()
_current: Runtime | None = None


def get_runtime() -> Runtime:
    """This process's runtime (created on first use, recreated after a fork)."""
    global _current
    rt = _current
    if rt is not None and rt.pid == os.getpid():
        return rt
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = Runtime(get_settings())
        return _current


def install_runtime(rt: Runtime) -> Runtime:
    """Make `rt` this process's runtime (replacing and closing any other)."""
    global _current
    with _lock:
        if _current is not None and _current is not rt and _current.pid == os.getpid():
            _current.close()
        _current = rt
        return rt


def reset_runtime() -> None:
    """Drop this process's runtime (tests switch namespaces between runs)."""
    global _current
    with _lock:
        if _current is not None and _current.pid == os.getpid():
            _current.close()
        _current = None
