"""Planning: what a volume of work will cost and which fleet it needs, before it runs.

- `estimate`: the cost of one call on every model (`cost estimate`)
- `plan`, `input`: workers and replicas per tier for given calls per day (`plan`)
"""
