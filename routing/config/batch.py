"""A model key's `batch` settings (work that can wait: provider batches) and their checks.

Apart from `routing.config.models` so that the config module stays small; `routing.config.models`
cross-checks a key's batch against its model with `batch_problems`; `routing.config.schema`
validates it.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.config.kinds import BATCH_PROVIDERS, BatchFailure

# Both providers answer within 24 hours of a submission (or expire its requests): an item
# waits at most `max_wait_seconds` for its batch to be submitted, then that window.
BATCH_WINDOW_SECONDS = 86_400
MIN_BATCH_WAIT_SECONDS = 60
MAX_BATCH_WAIT_SECONDS = 86_400
# OpenAI takes at most 50,000 requests per batch (Anthropic 100,000).
MAX_BATCH_ITEMS = 50_000
DEFAULT_BATCH_ITEMS = 1_000


@dataclass(frozen=True, kw_only=True)
class BatchSpec:
    """Collect a key's calls into provider batches (the batch price; the answer within
    the provider's 24 hours): a batch is submitted when it holds `max_items` calls or its
    oldest call has waited `max_wait_seconds`."""

    max_wait_seconds: float
    max_items: int = DEFAULT_BATCH_ITEMS
    on_failure: BatchFailure = BatchFailure.direct

    def reservation_seconds(self) -> float:
        """How long a batched call may be in flight: its wait for the batch, the provider's
        window, and an hour for polling and delivery."""
        return self.max_wait_seconds + BATCH_WINDOW_SECONDS + 3600


def batch_problems(base: str, model: str, provider: str, priced: bool) -> list[tuple[str, str]]:
    """Why model key `base` (a path) may not batch its calls on `model` (none: it may)."""
    if provider not in BATCH_PROVIDERS:
        return [(f"{base}.batch", f"'{model}' is served by provider '{provider}', which has "
                 "no batch API llm-router submits to (batches: "
                 f"{', '.join(BATCH_PROVIDERS)}); remove `batch`, or route the key to a model "
                 "of those providers")]
    if not priced:
        return [(f"{base}.batch", f"'{model}' has no batch price: add "
                 f"models.{model}.price.batch_discount (the share a batch saves, e.g. 0.5 "
                 "for half price), or remove `batch`")]
    return []
