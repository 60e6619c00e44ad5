"""Bare Celery tasks: the baseline the router is compared with.

Registered on the product's Celery app (a worker loads them with `-I bench.bare_tasks`),
so that the baseline runs with exactly the same broker, result backend and worker
settings as `llm.run`, but without a model key: the send-time router declines it, the
caller names a fixed queue, and the worker does no routing, budget, ledger or provider
call. `bench.bare` takes the same keyword arguments as `llm.run` (same payload size).
"""

from __future__ import annotations

import time
from typing import Any

from workers.app import app

BARE = "bench.bare"


@app.task(name=BARE)
def bare(model_key: str = "", prompt: str = "", sleep: float = 0.0) -> dict[str, Any]:
    """Sleep `sleep` seconds (the provider's latency), return a small dict."""
    if sleep > 0:
        time.sleep(sleep)
    return {"text": "ok", "model_key": model_key, "chars": len(prompt)}
