"""Shared fixtures live in tests/support/, one module per area."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.redis",
    "tests.support.redis_topologies",
    "tests.support.redis_server",
    "tests.support.llm_server",
    "tests.support.celery",
    "tests.support.browser",
    "tests.support.cache",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the Celery session (it runs workers or sends tasks) is marked
    `broker`: scripts/test.sh runs those again on RabbitMQ (`tests.support.broker`), all
    but the tests of one broker's own machinery (`one_broker`)."""
    for item in items:
        if ("celery_session" in getattr(item, "fixturenames", ())
                and item.get_closest_marker("one_broker") is None):
            item.add_marker(pytest.mark.broker)
