"""The result backend stores a task state in one round trip, never overwrites a SUCCESS,
and writes what any Celery client reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, states
from celery.result import AsyncResult

from tests.support.redis import delete_matching
from tests.support.spend import CountingConnection
from workers.result_backend import ResultBackend, backend_url


@pytest.fixture
def apps(redis_url: str) -> Iterator[tuple[Celery, Celery, str]]:
    """(ours, a plain Celery client of the same backend, the key prefix)."""
    prefix = f"rb-test-{uuid.uuid4().hex[:8]}:"
    ours = Celery("ours", backend=backend_url(redis_url), set_as_current=False)
    plain = Celery("plain", backend=redis_url, set_as_current=False)
    for app in (ours, plain):
        app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
        app.conf.result_extended = True
    yield ours, plain, prefix
    delete_matching(redis_url, f"{prefix}*")


def test_the_setting_picks_this_backend_for_redis_only() -> None:
    assert backend_url("redis://h:6379/1").startswith("workers.result_backend:ResultBackend+")
    assert backend_url("cache+memory://") == "cache+memory://"


def test_a_state_write_is_one_round_trip(apps: tuple[Celery, Celery, str]) -> None:
    ours, plain, _ = apps
    backend: Any = ours.backend
    assert isinstance(backend, ResultBackend)
    task_id = uuid.uuid4().hex
    pool = backend.client.connection_pool
    pool.connection_class = CountingConnection
    pool.reset()
    backend.store_result(task_id, None, states.STARTED)  # connects, loads the script
    (conn,) = pool._available_connections
    conn.round_trips, conn.sent = 0, []
    backend.store_result(task_id, {"text": "hi"}, states.SUCCESS)
    assert (conn.round_trips, conn.sent) == (1, ["EVALSHA"])
    # and a plain Celery client reads it as its own
    assert AsyncResult(task_id, app=plain).get(timeout=5) == {"text": "hi"}


def test_a_success_is_never_overwritten(apps: tuple[Celery, Celery, str]) -> None:
    ours, plain, _ = apps
    task_id = uuid.uuid4().hex
    ours.backend.store_result(task_id, 42, states.SUCCESS)
    # a lost worker's late writes (a redelivered task starting, or failing)
    ours.backend.store_result(task_id, None, states.STARTED)
    ours.backend.store_result(task_id, RuntimeError("late"), states.FAILURE)
    result = AsyncResult(task_id, app=plain)
    assert (result.state, result.get(timeout=5)) == (states.SUCCESS, 42)
