"""The routing config: what it may say, where it comes from, and where it is kept.

- `models`: the config at run time (models, tiers, model keys, rules, budgets: frozen
  dataclasses) and its cross-checks; `price`, `batch`, `samples`: its sections
- `schema`: the pydantic validation of a document (`values`: its strict value types);
  `load`: a document into a config (validated, or read as stored); `stored`: the
  building and dumping of a validated document without pydantic; `seal`: which stored
  documents this installation validated when writing them
- `kinds`: its enumerations
- `defaults` + `default_config.yaml`: the shipped config; `file`: reading YAML/JSON files
- `diff`: what changed between two versions
- `store`: the versioned config in Redis, with its history
"""
