"""The routing config held in memory by every process, kept current from Redis.

`LiveConfig.get()` and `LiveConfig.router` read one attribute: no I/O per decision. A
daemon thread subscribes to the store's change channel and, in case a message is missed,
also checks `store.version()` (one GET of a small key) every `poll_seconds`. On a change
it reads the new document, compiles a `Router` and swaps both in with one assignment.

If Redis goes away, the last good config stays in use: one warning per outage, one info
line on recovery, retries in the background. It never falls back to the shipped
defaults: `start()` without any config in memory and no Redis raises
`StoreUnavailableError`. A forked child (Celery prefork) restarts its own thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any, NamedTuple

from routing.config.models import RoutingConfig
from routing.config.store import ConfigStore
from routing.decode import text
from routing.errors import StoreUnavailableError
from routing.router import Router

log = logging.getLogger(__name__)

class _State(NamedTuple):
    config: RoutingConfig
    router: Router


class LiveConfig:
    """The current routing config and its compiled router, refreshed in the background."""

    def __init__(self, store: ConfigStore, *, poll_seconds: float = 0.5) -> None:
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.store = store
        self.poll_seconds = poll_seconds
        self._state: _State | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self._reset_sync()
        _instances.add(self)

    def _reset_sync(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._reload = threading.Lock()  # one reload at a time: never swap in an older read
        self._stop = threading.Event()

    # -- the hot path (no I/O) -----------------------------------------------------------
    def _current(self) -> _State:
        state = self._state
        if state is None:
            raise StoreUnavailableError("LiveConfig has no config yet: call start() first")
        return state

    def get(self) -> RoutingConfig:
        return self._current().config

    @property
    def router(self) -> Router:
        return self._current().router

    @property
    def version(self) -> int:
        state = self._state
        return state.config.version if state is not None else 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> LiveConfig:
        """Load the config (synchronously, the first time) and start the watcher thread."""
        if self._state is None:
            try:
                config = self.store.read()
            except StoreUnavailableError as exc:
                raise StoreUnavailableError(
                    f"{exc}; no routing config is held in memory yet, and the shipped "
                    "defaults are never used silently"
                ) from None
            self._swap(config)
        self._running = True
        self._start_thread()
        return self

    def _start_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="llm-router-live-config", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.poll_seconds + 5)
        self._thread = None

    def __enter__(self) -> LiveConfig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and its locks may be held: renew them.
        self._reset_sync()
        self._thread = None
        if self._running:
            self._start_thread()

    # -- changes -------------------------------------------------------------------------
    def wait_for_version(self, version: int, timeout: float) -> bool:
        """Block until the config in memory is at least `version`; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.version >= version, timeout)

    def refresh(self) -> bool:
        """Check the store now; True if a new version was loaded."""
        return self._check(None)

    def _check(self, hint: int | None) -> bool:
        with self._reload:
            if hint is None:
                hint = self.store.version()
            if hint == self.version:
                return False
            config = self.store.read()
            if config.version == self.version:
                return False
            self._swap(config)
            return True

    def _swap(self, config: RoutingConfig) -> None:
        state = _State(config, Router(config))
        with self._cond:
            self._state = state
            self._cond.notify_all()

    def _run(self, stop: threading.Event) -> None:
        pubsub: Any = None
        outage_since: float | None = None
        next_poll = 0.0
        while not stop.is_set():
            try:
                if pubsub is None:
                    # Through Any: redis-py types pubsub() from 8.0 on only.
                    client: Any = self.store.redis
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.store.channel)
                    next_poll = 0.0  # check at once: a change may have been missed
                # Short waits so that stop() is prompt; a poll is due at `next_poll`.
                wait = max(0.0, min(0.25, next_poll - time.monotonic()))
                message = pubsub.get_message(timeout=wait)
                if message is not None and message.get("type") == "message":
                    self._check(_as_int(message.get("data")))
                if time.monotonic() >= next_poll:
                    self._check(None)
                    next_poll = time.monotonic() + self.poll_seconds
                if outage_since is not None:
                    log.info(
                        "routing config store reachable again after %.1fs; config version %d",
                        time.monotonic() - outage_since, self.version,
                    )
                    outage_since = None
            except Exception as exc:
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning(
                        "routing config refresh failed (%s); keeping config version %d "
                        "until the store is back", exc, self.version,
                    )
                _close(pubsub)
                pubsub = None
                stop.wait(min(self.poll_seconds, 1.0))
        _close(pubsub)


def _as_int(data: Any) -> int | None:
    try:
        return int(text(data))
    except (TypeError, ValueError):
        return None


def _close(pubsub: Any) -> None:
    if pubsub is not None:
        try:
            pubsub.close()
        except Exception:
            log.debug("closing the config pub/sub connection failed", exc_info=True)


_instances: weakref.WeakSet[LiveConfig] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for live in list(_instances):
        live._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
