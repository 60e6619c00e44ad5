"""Recorded samples of a model key's production calls, kept for replay on candidates.

A key with `samples` in the config (`routing.config.samples`) records a bounded share of
its successful calls: the call's input as the task contract holds it (system, messages,
max_tokens, ...) and its model's validated answer and usage. Prompts are stored: that is
the point, so recording is opt-in, bounded in count and size, kept `retention_days` and
purged on demand (`llm-router samples purge KEY`).

- `store`: the Redis side (record, prune, read, summarise, purge)
- `lua`: its scripts (a record is one EVALSHA, the retention and count cap included)
"""
