"""What a worker does at start and stop: load the live config before taking tasks, run
the deferred-task releaser, and let go of both at shutdown."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from workers.deferred import Releaser
from workers.runtime import get_runtime

log = logging.getLogger(__name__)

_releaser: Releaser | None = None


def connect(app: Celery) -> None:
    @worker_ready.connect(weak=False)
    def _ready(**_: Any) -> None:
        global _releaser
        rt = get_runtime()
        cfg = rt.live.get()
        log.info("llm-router worker ready: config version %d, namespace %s",
                 cfg.version, rt.settings.namespace)

        def publish(payload: dict[str, Any]) -> None:
            app.signature(payload).apply_async()

        _releaser = Releaser(rt.deferred, publish)
        _releaser.start()

    @worker_process_init.connect(weak=False)
    def _child(**_: Any) -> None:
        get_runtime().live.get()  # a prefork child loads its own config

    @worker_shutdown.connect(weak=False)
    def _shutdown(**_: Any) -> None:
        global _releaser
        if _releaser is not None:
            _releaser.stop()
            _releaser = None
