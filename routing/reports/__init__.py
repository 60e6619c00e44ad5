"""Reports: spend against naive routing, per day and model key, as data, text and HTML.

- `report`: the report's figures, read from the ledger's day aggregates
- `text`, `html`, `svg`: its renderings (terminal, self-contained page, charts)
"""
