"""The Beat schedule as data: every entry's task is registered, its work routes to an
existing queue, and each expires before its next run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beat_schedule import INTERVALS, SCHEDULE
from routing.config.defaults import default_config
from routing.router import Router
from workers.app import app


def test_every_entry_has_an_interval_and_an_expiry_shorter_than_it() -> None:
    assert set(INTERVALS) == set(SCHEDULE)
    for name, entry in SCHEDULE.items():
        assert 0 < entry["options"]["expires"] < INTERVALS[name], name


@pytest.mark.parametrize("name", sorted(SCHEDULE))
def test_entry_task_is_registered_and_routes_to_a_queue(name: str) -> None:
    import tasks  # noqa: F401

    task = app.tasks[SCHEDULE[name]["task"]]
    cfg = default_config()
    queues = {t.queue for t in cfg.tiers.values()}
    model_key = getattr(task, "model_key", None)
    if model_key is not None:
        assert Router(cfg).decide(model_key).queue in queues
        assert f"tasks.{model_key}" in app.tasks


def test_the_seed_cadences() -> None:
    assert SCHEDULE["monitoring-every-30-minutes"]["schedule"] == 30 * 60
    assert SCHEDULE["content-curation-every-6-hours"]["schedule"] == 6 * 3600


@pytest.fixture(params=["server", "cluster", "sentinel"])
def routing_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """LLM_ROUTER_REDIS_URL: the shared test server, a Redis Cluster, a Sentinel master."""
    if request.param == "server":
        return redis_url
    url: str = request.getfixturevalue(f"redis_{request.param}_url")
    return url


def test_beat_keeps_the_schedule_and_its_lock_in_the_routing_redis_under_the_namespace(
    env: dict[str, str], routing_url: str
) -> None:
    """Beat's scheduler, as `celery -A workers.app beat` configures it, stores every entry
    of the schedule (crontabs intact, expiries kept) in the routing Redis (one server, a
    Cluster, Sentinel), every key under the namespace's hash tag, and locks with the
    configured timeout."""
    from celery import Celery
    from celery.schedules import schedule as every
    from celery.utils.imports import symbol_by_name
    from redbeat.schedulers import RedBeatSchedulerEntry

    from routing.connect import connect
    from routing.keys import keyspace
    from workers.beat import Scheduler
    from workers.celery_config import celery_config
    from workers.settings import get_settings

    ns = keyspace(env["LLM_ROUTER_NAMESPACE"])
    settings = get_settings().model_copy(update={"redis_url": routing_url})
    beat_app = Celery("beat-check")
    beat_app.conf.update(celery_config(settings, default_config()))
    assert symbol_by_name(beat_app.conf.beat_scheduler) is Scheduler
    client = connect(routing_url)
    # When Beat sets up its schedule
    scheduler = Scheduler(app=beat_app)
    try:
        # Then each entry is in Redis as defined, under the namespace
        for name, entry in SCHEDULE.items():
            stored = RedBeatSchedulerEntry.from_key(f"{ns}:redbeat:{name}", app=beat_app)
            assert stored.task == entry["task"]
            expected = entry["schedule"]
            if isinstance(expected, int):
                expected = every(timedelta(seconds=expected))
            assert stored.schedule == expected, name
            assert stored.options["expires"] == entry["options"]["expires"], name
        keys = {k.decode() for k in client.scan_iter(match="*redbeat*", count=1000)
                if env["LLM_ROUTER_NAMESPACE"] in k.decode()}
        assert keys and all(k.startswith(f"{ns}:redbeat:") for k in keys), keys
        assert scheduler.lock_key == f"{ns}:redbeat::lock"
        assert scheduler.lock_timeout == settings.beat_lock_timeout
        # it wakes (and renews the lock) well within the lock's life
        assert scheduler.max_interval * 5 <= settings.beat_lock_timeout
        # and the lock works there (Beat takes it when it starts)
        lock = beat_app.redbeat_redis.lock(scheduler.lock_key, timeout=5)
        assert lock.acquire(blocking=False)
        assert client.pttl(scheduler.lock_key) > 0
        lock.release()
    finally:
        scheduler.close()
        for key in client.scan_iter(match=f"{ns}:*"):
            client.delete(key)
        client.close()
        beat_app.redbeat_redis.close()
