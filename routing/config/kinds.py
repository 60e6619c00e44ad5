"""The named choices of a routing config: providers, worker pools, budget and batch
policies.

Plain enums in a module of their own, so that the CLI can offer them as choices without
loading the config models.
"""

from __future__ import annotations

from enum import StrEnum


class Provider(StrEnum):
    anthropic = "anthropic"
    openai = "openai"
    moonshot = "moonshot"
    google = "google"


# The providers whose batch API llm-router submits to (Anthropic Message Batches, the
# OpenAI Batch API). Moonshot's and Gemini's OpenAI-compatible endpoints have none.
BATCH_PROVIDERS = (Provider.anthropic, Provider.openai)


class Pool(StrEnum):
    threads = "threads"
    prefork = "prefork"
    solo = "solo"


class BudgetPolicy(StrEnum):
    defer = "defer"
    downgrade = "downgrade"
    reject = "reject"


class BatchFailure(StrEnum):
    """What happens to a task whose provider batch failed or expired (or whose item
    errored with a retryable error): `direct` calls the model directly (same task id),
    `fail` fails the task."""

    direct = "direct"
    fail = "fail"
