"""Spend: budgets reserved before a call, the ledger settled after it, and their shared state.

- `budget`: daily budgets and the reservation made before a call (`budget_names`: the
  names of the budgets a call is charged to)
- `ledger`: settlement of a call (`call_record`), the day aggregates it writes
  (`aggregates`), unsettled calls
- `runs`: spend per agent, tag and run, run caps, and `llm-router runs stop`
- `reconcile`: the ledger against the providers' own usage and cost reports (pure)
- `lua`: the atomic Redis scripts behind budgets, the ledger and runs
- `latency`: the latency histogram buckets the ledger counts
- `deferred`, `cooldown`: work deferred by a budget, providers cooling down after a 429

The worker's side (reserve, call, settle) is `workers.execution.accounting`.
"""
