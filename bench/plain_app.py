"""A plain Celery app, no llm-router code: the "bare Celery task" the worker overhead is
measured against. Celery's defaults, except JSON, the bench's Redis broker and result
backend with its key prefix, and the Celery settings a production deployment of a
hand-rolled task takes for the guarantees llm-router's workers give: task events on
(Flower needs them), late acks with reject-on-worker-lost (a killed worker's task goes
back), the STARTED state tracked and extended results (task name, args, worker and queue
stored with the result), as `workers.celery_config` sets them. What it still does not
do is llm-router's own (docs/benchmarks.md, section 7): delivery leases on the Redis
transport, the task-sent event a worker announces for a task sent by name, and the
route, budget and ledger work. `plain.bare` sleeps like the provider answers; `plain.sdk` is what a
hand-rolled Celery task does instead of llm-router: one Anthropic SDK client per process
(the SDK's defaults; base URL and key from ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY, the
test LLM server here) and `messages.create` per task, returning the text and usage.

Environment: BENCH_PLAIN_URL (broker and backend), BENCH_PLAIN_PREFIX (key prefix).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import anthropic
from celery import Celery

PLAIN_TASK = "plain.bare"
SDK_TASK = "plain.sdk"
SDK_MODEL = "claude-haiku-4-5"

app = Celery("plain", broker=os.environ.get("BENCH_PLAIN_URL", "redis://127.0.0.1:6379/13"),
             backend=os.environ.get("BENCH_PLAIN_URL", "redis://127.0.0.1:6379/13"))
_prefix = os.environ.get("BENCH_PLAIN_PREFIX", "")
if _prefix:
    app.conf.broker_transport_options = {"global_keyprefix": _prefix}
    app.conf.result_backend_transport_options = {"global_keyprefix": _prefix}
app.conf.worker_send_task_events = True
app.conf.task_acks_late = True
app.conf.task_reject_on_worker_lost = True
app.conf.task_track_started = True
app.conf.result_extended = True
app.conf.broker_connection_retry_on_startup = True


@app.task(name=PLAIN_TASK)
def bare(model_key: str = "", prompt: str = "", sleep: float = 0.0) -> dict[str, Any]:
    """Sleep `sleep` seconds (the provider's latency), return a small dict."""
    if sleep > 0:
        time.sleep(sleep)
    return {"text": "ok", "model_key": model_key, "chars": len(prompt)}


_client: anthropic.Anthropic | None = None
_client_lock = threading.Lock()


def _anthropic() -> anthropic.Anthropic:
    global _client
    with _client_lock:
        if _client is None:
            _client = anthropic.Anthropic()
        return _client


@app.task(name=SDK_TASK)
def sdk(model_key: str = "", prompt: str = "", max_tokens: int = 256,
        messages: list[Any] | None = None, tools: list[Any] | None = None) -> dict[str, Any]:
    """One provider call through the official SDK, as a hand-rolled task makes it (an
    agent turn: `messages` and `tools` in the Anthropic shape, the tool calls returned)."""
    if tools:
        message = _anthropic().messages.create(
            model=SDK_MODEL, max_tokens=max_tokens, messages=messages or [], tools=tools)
    else:
        message = _anthropic().messages.create(
            model=SDK_MODEL, max_tokens=max_tokens,
            messages=messages or [{"role": "user", "content": prompt}])
    text = "".join(b.text for b in message.content if b.type == "text")
    calls = [{"id": b.id, "name": b.name, "arguments": b.input}
             for b in message.content if b.type == "tool_use"]
    return {"text": text, "model_key": model_key, "tool_calls": calls,
            "stop_reason": message.stop_reason,
            "usage": {"input_tokens": message.usage.input_tokens,
                      "output_tokens": message.usage.output_tokens}}
