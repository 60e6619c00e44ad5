"""The routing core: choosing a model and counting what it costs. No Celery, no SDK.

Subpackages, one concern each, from the readers down (each imports only those below it:
see pyproject's contracts):
- `evidence/`: per-key evidence and the monthly routing review; `planning/`: cost
  estimates and fleet plans
- `reports/`: spend against naive routing (data, text, HTML)
- `spend/`: budgets reserved before a call, the ledger settled after it, runs and their
  caps, reconciliation with the providers' bills
- `batches/`: requests waiting for or sent in provider batches
- `samples/`: recorded production calls of a model key, for replay on candidates
- `prices/`: usage to integer micro-dollars; configured prices against the catalog's
- `config/`: the routing config, its shipped default, and its versioned store in Redis
- `catalog/`: the providers' published list prices (genai-prices), read offline

Modules directly in `routing/`: `router` (a model key and input size to a decision),
`live` (each process's live copy of the config and its router), `tokens` (input size
estimates), `attribution` (who asked for a call, for which run; `attribution_names`: the
names' rules), `keys` (Redis key names), `connect`/`redis_url` (Redis clients), `money`
(micro-dollars), `days`/`timestamps` (dates as text), `decode`, and `errors` (one root
class, `RoutingError`).
"""
