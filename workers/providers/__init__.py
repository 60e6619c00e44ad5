"""The providers: model calls through the official SDKs, offline ones, and batches.

- `base`: the interface (a `CompletionRequest` in, a completion with normalised usage out)
- `anthropic`: Claude through the `anthropic` SDK; `openai_compat`: OpenAI, Kimi and
  Gemini through the `openai` SDK (their OpenAI-compatible endpoints)
- `anthropic_turns`, `openai_turns`: the neutral agent turn (`workers.turns`) in each
  API's shape, and back
- `simulated`, `simulated_tools`, `simulated_batch`: the offline provider
  (`LLM_ROUTER_PROVIDER_MODE=simulated`); `schema_instance`: a valid instance of a JSON
  schema for its typed answers
- `batch`: the provider batch interface; `anthropic_batch`, `openai_batch`: Message
  Batches and the Batch API through the SDKs
- `registry`: one client per provider per process
- `errors`: the provider errors, classified; `failures`: an HTTP failure into them
- `usage_reports/`: the providers' own usage and cost reports, for reconciliation
"""
