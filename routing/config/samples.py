"""A model key's `samples` settings: record a bounded share of its production calls.

Apart from `routing.config.models` so that the config module stays small. What is kept
(the call's input and the key's model's answer) and where: `routing.samples`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from routing.config.values import Count, Number

SAMPLES_EXAMPLE = "{share: 0.05, max_count: 500, max_bytes: 65536, retention_days: 14}"
MAX_SAMPLE_COUNT = 100_000
MIN_SAMPLE_BYTES = 256
MAX_SAMPLE_BYTES = 4 * 1024 * 1024
MAX_RETENTION_DAYS = 366


class SampleSpec(BaseModel):
    """Record `share` of the key's successful calls on its own model (their input and the
    validated answer) for replay on candidates: at most `max_count` kept, each at most
    `max_bytes` (a larger one is skipped), each for `retention_days`."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    share: Number
    max_count: Count = Field(default=500, ge=1, le=MAX_SAMPLE_COUNT)
    max_bytes: Count = Field(default=64 * 1024, ge=MIN_SAMPLE_BYTES, le=MAX_SAMPLE_BYTES)
    retention_days: Count = Field(default=14, ge=1, le=MAX_RETENTION_DAYS)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "samples_entry", "samples is a mapping such as {example}",
                {"example": SAMPLES_EXAMPLE})
        return data

    @field_validator("share", mode="before")
    @classmethod
    def _share(cls, value: Any) -> Any:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not 0 < value <= 1:
            raise PydanticCustomError(
                "samples_share", "{got!r} is not a share in (0, 1]: give the share of the "
                "key's successful calls to record, e.g. 0.05 for 5%", {"got": value})
        return value

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * 86_400
