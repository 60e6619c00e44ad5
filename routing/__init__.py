"""The routing core: choosing a model and counting what it costs. No Celery, no SDK.

- `config` (+ `kinds`, `defaults`, `default_config.yaml`, `diff`): the routing config
- `store`, `live`: the versioned config in Redis, and each process's live copy of it
- `router`, `tokens`, `estimate`: from a model key (and input size) to a decision
- `pricing`, `money`: usage to integer micro-dollars
- `budget`, `ledger`, `spend_lua`: reservations before a call, settlement after it
- `report`, `review`: spend against naive routing; the monthly routing review
- `cooldown`, `deferred`: shared state of execution (429 cooldowns, budget deferrals)
- `errors`: one root class, `RoutingError`
"""
