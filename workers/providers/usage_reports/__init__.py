"""The providers' own usage and cost reports, read with an admin key for reconciliation.

- `anthropic`: the organization analytics usage and cost endpoints
  (`client.beta.organization.analytics.usage` / `.cost`; the older usage_report /
  cost_report endpoints are legacy), amounts as decimal strings in cents
- `openai`: `client.admin.organization.usage.completions` and `.costs`, daily buckets,
  amounts as numbers in dollars
- `fetch`: one provider's report of some UTC days, as `routing.spend.reconcile` rows
- `report`: the rows, day bounds and paging both share
- `reconciling`: a report against the ledger (and storing the result)
- `errors`: a missing admin key, a report that fails or pages forever

Both through the official SDKs, with the SDKs' own paging; the admin key is read from the
settings, handed to the SDK client and never logged, stored or shown in an error.
"""
