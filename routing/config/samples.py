"""A model key's `samples` settings: record a bounded share of its production calls.

Apart from `routing.config.models` so that the config module stays small. What is kept
(the call's input and the key's model's answer) and where: `routing.samples`. Validated by
`routing.config.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLES_EXAMPLE = "{share: 0.05, max_count: 500, max_bytes: 65536, retention_days: 14}"
MAX_SAMPLE_COUNT = 100_000
MIN_SAMPLE_BYTES = 256
MAX_SAMPLE_BYTES = 4 * 1024 * 1024
MAX_RETENTION_DAYS = 366


@dataclass(frozen=True, kw_only=True)
class SampleSpec:
    """Record `share` of the key's successful calls on its own model (their input and the
    validated answer) for replay on candidates: at most `max_count` kept, each at most
    `max_bytes` (a larger one is skipped), each for `retention_days`."""

    share: float
    max_count: int = 500
    max_bytes: int = 64 * 1024
    retention_days: int = 14

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * 86_400
