"""Prometheus metrics of a deployment, computed from Redis at scrape time.

- `collector`: the metric families, from a `Snapshot` of the deployment (`snapshot`)
- `source`: reads a `Snapshot` (ledger aggregates, budgets, config version, queue depths)
- `broker_depth`: waiting messages per queue on the Redis broker (kombu's key layout);
  `amqp_depth`: the same on RabbitMQ
- `agents`, `trials`, `batches`, `reconcile`: the families per agent, of shadow trials,
  of provider batches, and of the last reconciliation with the providers' bills
- `http`: the `/metrics` endpoint (`llm-router metrics`, or a worker with
  LLM_ROUTER_METRICS_PORT)
"""

DEFAULT_PORT = 9464
