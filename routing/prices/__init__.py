"""Prices: what one call costs, from its usage and the config's prices, in micro-dollars.

- `pricing`: `Usage` and `cost_micros`, the one function every figure is priced with
"""
