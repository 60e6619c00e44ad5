"""Estimate input tokens before a call; exact counts come later from the provider's usage.

The estimator is the common "about four characters per token" heuristic for English and
code with BPE tokenizers (Anthropic and OpenAI both document ~4 chars/token), rounded up,
plus a small per-message overhead for role markers. It overestimates slightly on prose
and underestimates on dense non-ASCII text; it is used only to pick a route (e.g. the
50,000-token rule), check context windows and size budget reservations, never to bill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_text_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def estimate_tokens(
    *,
    prompt: str | None = None,
    messages: Iterable[Mapping[str, Any]] | None = None,
    system: str | None = None,
) -> int:
    """Estimated input tokens of a request (prompt or messages, plus the system prompt)."""
    total = estimate_text_tokens(system) if system else 0
    if prompt:
        total += estimate_text_tokens(prompt) + MESSAGE_OVERHEAD_TOKENS
    for message in messages or ():
        content = message.get("content", "")
        if not isinstance(content, str):
            content = "".join(
                str(part.get("text", "")) if isinstance(part, Mapping) else str(part)
                for part in content
            )
        total += estimate_text_tokens(content) + MESSAGE_OVERHEAD_TOKENS
    return total
