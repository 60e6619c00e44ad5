"""The routing core: choosing a model and counting what it costs. No Celery, no SDK.

Subpackages, one concern each (they depend downwards only: see pyproject's contracts):
- `config/`: the routing config, its shipped default, and its versioned store in Redis
- `prices/`: usage to integer micro-dollars
- `spend/`: budgets reserved before a call, the ledger settled after it
- `batches/`: requests waiting for or sent in provider batches
- `reports/`: spend against naive routing (data, text, HTML)
- `evidence/`: per-key evidence and the monthly routing review
- `planning/`: cost estimates and fleet plans

At the top: `router` (a model key and input size to a decision), `live` (each process's
live copy of the config and its router), `tokens` (input size estimates), `keys` (Redis
key names), `connect`/`redis_url` (Redis clients), `money`, `decode`, and `errors` (one
root class, `RoutingError`).
"""
