"""A plain Celery app, no llm-router code: the "bare Celery task" the worker overhead is
measured against. Celery's defaults, except JSON, the bench's Redis broker and result
backend with its key prefix, and task events on (Flower needs them, and llm-router's
workers send them); its one task sleeps like the provider answers.

Environment: BENCH_PLAIN_URL (broker and backend), BENCH_PLAIN_PREFIX (key prefix).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

PLAIN_TASK = "plain.bare"

app = Celery("plain", broker=os.environ.get("BENCH_PLAIN_URL", "redis://127.0.0.1:6379/13"),
             backend=os.environ.get("BENCH_PLAIN_URL", "redis://127.0.0.1:6379/13"))
_prefix = os.environ.get("BENCH_PLAIN_PREFIX", "")
if _prefix:
    app.conf.broker_transport_options = {"global_keyprefix": _prefix}
    app.conf.result_backend_transport_options = {"global_keyprefix": _prefix}
app.conf.worker_send_task_events = True
app.conf.broker_connection_retry_on_startup = True


@app.task(name=PLAIN_TASK)
def bare(model_key: str = "", prompt: str = "", sleep: float = 0.0) -> dict[str, Any]:
    """Sleep `sleep` seconds (the provider's latency), return a small dict."""
    if sleep > 0:
        time.sleep(sleep)
    return {"text": "ok", "model_key": model_key, "chars": len(prompt)}
