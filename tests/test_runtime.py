"""The per-process runtime: one live config however many threads ask first."""

from __future__ import annotations

import threading

from routing.config.store import ConfigStore
from workers.execution.runtime import Runtime
from workers.settings import Settings


def test_concurrent_first_use_builds_one_live_config(
    env: dict[str, str], redis_url: str, namespace: str
) -> None:
    ConfigStore.from_url(redis_url, namespace).init(author="tests")
    rt = Runtime(Settings())
    barrier = threading.Barrier(16)
    seen: list[object] = []

    def first_use() -> None:
        barrier.wait()
        seen.append(rt.live)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(seen) == 16 and len({id(live) for live in seen}) == 1
        assert rt.router.config.version == 1
    finally:
        rt.close()
