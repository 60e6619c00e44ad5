"""The named choices of a routing config: providers, worker pools, budget and batch
policies, model capabilities.

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


class Capability(StrEnum):
    """What a model can take beyond plain text (`models.<name>.supports`), and what a
    model key's work or a call needs (`model_keys.<key>.needs`, `Call.needs`):
    `tools` (function definitions and tool calls), `images` (image input blocks),
    `structured_output` (the provider's own JSON-schema output: Anthropic's forced tool,
    OpenAI-compatible `response_format` with a strict JSON schema)."""

    tools = "tools"
    images = "images"
    structured_output = "structured_output"


def capabilities_shown(capabilities: frozenset[Capability] | set[Capability]) -> str:
    """`tools, images` (sorted, for messages)."""
    return ", ".join(sorted(capabilities))
