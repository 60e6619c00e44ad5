"""What DESIGN.md says the default config does, written out independently of the YAML."""

from __future__ import annotations

# model key -> (model, queue)
DESIGN_ROUTES = {
    "strategic_decision": ("claude-opus-4-6", "llm.opus"),
    "orchestration": ("claude-sonnet-4-6", "llm.sonnet"),
    "drafting": ("claude-sonnet-4-6", "llm.sonnet"),
    "code_generation": ("claude-sonnet-4-6", "llm.sonnet"),
    "code_review": ("claude-sonnet-4-6", "llm.sonnet"),
    "monitoring": ("claude-haiku-4-5", "llm.haiku"),
    "content_curation": ("claude-haiku-4-5", "llm.haiku"),
    "classification": ("claude-haiku-4-5", "llm.haiku"),
    "data_extraction": ("claude-haiku-4-5", "llm.haiku"),
    "lookup": ("claude-haiku-4-5", "llm.haiku"),
    "large_context_coding": ("kimi-for-coding", "llm.kimi"),
}

# DESIGN.md's one dynamic rule: these keys, at or above this many input tokens, go to
# this model and queue, under this rule name.
LARGE_CONTEXT_KEYS = ("code_generation", "code_review")
LARGE_CONTEXT_TOKENS = 50_000
LARGE_CONTEXT_ROUTE = ("kimi-for-coding", "llm.kimi", "large_context_to_kimi")
