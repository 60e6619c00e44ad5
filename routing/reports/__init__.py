"""Reports: spend against naive routing, per day and model key, as data, text and HTML.

- `report`: the report's figures, read from the ledger's day aggregates
- `attribution`: the report per agent, tag and run (`cost report --by`)
- `reconciled`: the last reconciliation of each provider, kept for the report and metrics
- `text`, `html`, `svg`: its renderings (terminal, self-contained page, charts)
"""
