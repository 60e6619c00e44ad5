"""Shared fixtures live in tests/support/, one module per area."""

pytest_plugins = [
    "tests.support.redis",
    "tests.support.redis_topologies",
    "tests.support.redis_server",
    "tests.support.llm_server",
    "tests.support.celery",
    "tests.support.browser",
]
