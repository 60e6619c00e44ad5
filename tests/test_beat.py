"""The Beat schedule as data: every entry's task is registered, its work routes to an
existing queue, and each expires before its next run."""

from __future__ import annotations

import pytest

from beat_schedule import INTERVALS, SCHEDULE
from routing.defaults import default_config
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
