"""Prices: what one call costs, from its usage and the config's prices, in micro-dollars.

- `pricing`: `Usage` and `cost_micros`, the one function every figure is priced with
- `drift`: every model's configured prices against the price catalog's (`routing.catalog`),
  and the catalog's prices written back as a config change (`llm-router prices`)
"""
