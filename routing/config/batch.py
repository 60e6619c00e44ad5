"""A model key's `batch` settings (work that can wait: provider batches) and their checks.

Apart from `routing.config.models` so that the config module stays small; `routing.config.models`
cross-checks a key's batch against its model with `batch_problems`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from routing.config.kinds import BATCH_PROVIDERS, BatchFailure
from routing.config.values import Count, Number

# Both providers answer within 24 hours of a submission (or expire its requests): an item
# waits at most `max_wait_seconds` for its batch to be submitted, then that window.
BATCH_WINDOW_SECONDS = 86_400
MIN_BATCH_WAIT_SECONDS = 60
MAX_BATCH_WAIT_SECONDS = 86_400
# OpenAI takes at most 50,000 requests per batch (Anthropic 100,000).
MAX_BATCH_ITEMS = 50_000
DEFAULT_BATCH_ITEMS = 1_000


class BatchSpec(BaseModel):
    """Collect a key's calls into provider batches (the batch price; the answer within
    the provider's 24 hours): a batch is submitted when it holds `max_items` calls or its
    oldest call has waited `max_wait_seconds`."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    max_wait_seconds: Number
    max_items: Count = Field(default=DEFAULT_BATCH_ITEMS, ge=1, le=MAX_BATCH_ITEMS)
    on_failure: BatchFailure = BatchFailure.direct

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            shown = repr(data) if len(repr(data)) <= 60 else repr(data)[:57] + "..."
            raise PydanticCustomError(
                "batch_mapping", "batch is a mapping such as {example} (optionally "
                "max_items and on_failure), got {got}; leave `batch` out for direct calls",
                {"example": "{max_wait_seconds: 3600}", "got": shown})
        return data

    @field_validator("max_wait_seconds")
    @classmethod
    def _wait(cls, value: float) -> float:
        if not MIN_BATCH_WAIT_SECONDS <= value <= MAX_BATCH_WAIT_SECONDS:
            raise PydanticCustomError(
                "batch_wait", "{value} s is outside {low}..{high} seconds: a batch waits at "
                "least a minute for company and at most the providers' 24-hour window; give "
                "a wait in that range",
                {"value": f"{value:g}", "low": MIN_BATCH_WAIT_SECONDS,
                 "high": MAX_BATCH_WAIT_SECONDS})
        return value

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
