"""The tests' own cache directory: what llm-router memoises (the price catalog's answers,
routing.catalog.cache) goes under a directory of the session, not the user's ~/.cache."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """XDG_CACHE_HOME of the session (and of the processes it starts)."""
    before = os.environ.get("XDG_CACHE_HOME")
    path = str(tmp_path_factory.mktemp("cache-home"))
    os.environ["XDG_CACHE_HOME"] = path
    yield path
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before
