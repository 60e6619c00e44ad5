"""`llm-router demo`: one compressed day of a multi-agent system through the real path
(send by name -> send-time router -> tier queues -> workers -> simulated provider ->
ledger), offline in one process, or against a real Redis and its workers.

- `workload`: the shipped day (workload.yaml) and its timeline of sends
- `system`: the offline system (fakeredis, memory:// broker, a worker per tier) or Redis
- `namespace`: on Redis, the demo's own namespace; a deployment's is refused
- `runner`: plays the day, changes one route live halfway, follows every result
- `report`: per model key calls, models, queues, tokens, cost; naive comparisons; budgets
"""

# the demo's namespace on a real Redis by default (`namespace`); here, so that the
# command's options (and `--help`) need not import Redis and the config store
DEFAULT_NAMESPACE = "llmr-demo"
