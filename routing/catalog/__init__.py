"""The price catalog: the providers' published list prices, from the pinned `genai-prices`.

- `lookup`: a model's price document (rates, long-context tiers, batch discount) read
  offline from the data bundled in genai-prices (`--latest` fetches newer data, opt-in),
  and `resolve_document`, which turns `price: catalog` in a config into numbers
- `cache`: the same answers memoised on disk per installation, so that reading them does
  not load genai-prices (and pydantic) on every CLI run
- `info`: which catalog answered (package, version, how fresh its data is)

Nothing here is on a worker's hot path: a stored config holds resolved numbers.
Importing this package imports none of its modules.
"""
