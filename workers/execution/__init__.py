"""Running an LLM task on a worker.

- `route_state`: the routing state a task carries in its message header across hops
- `policy`: what to do next (call, wait, retry, fall back, escalate, downgrade, defer,
  fail), a pure function with no I/O
- `runtime`: this process's connections and state (Redis, live config, providers,
  budgets, ledger, cooldowns, deferrals)
- `accounting`: budget reservations before a call and ledger settlement after it
- `runner`: the Celery side that carries out the policy's steps
"""
