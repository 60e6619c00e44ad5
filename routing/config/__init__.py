"""The routing config: what it may say, where it comes from, and where it is kept.

- `models`: the pydantic document (models, tiers, model keys, rules, budgets), validated
- `kinds`, `values`, `batch`: its enumerations, strict value types and batch section
- `defaults` + `default_config.yaml`: the shipped config; `file`: reading YAML/JSON files
- `diff`: what changed between two versions
- `store`: the versioned config in Redis, with its history
"""
