"""Running an LLM task on a worker.

- `route_state`: the routing state a task carries in its message header across hops;
  `route_seal`: that header's HMAC, so that no producer can forge a route
- `policy`: what to do next (call, wait, retry, fall back, escalate, downgrade, defer,
  fail), a pure function with no I/O
- `runtime`: this process's connections and state (Redis, live config, providers,
  budgets, ledger, cooldowns, deferrals)
- `accounting`: budget reservations before a call and ledger settlement after it
- `runner`: the Celery side that carries out the policy's steps; `announce`: the
  `task-sent` event of a task run in place; `results`: what a task returns
- provider batches: `batch_policy` (pure), `batch_calls` (a call stored in its batch),
  `batch_sweep` (submit, poll, deliver), `batch_lookup` (a submission whose answer was lost)
- `trial`: a shadow trial of a candidate model; `replay`: recorded samples replayed on one
"""
