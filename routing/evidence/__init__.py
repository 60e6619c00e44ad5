"""Evidence: how each model key's models and trial candidates performed, and the review.

- `per_key`: per-key evidence over a window of days (rates, latencies, agreement intervals)
- `candidates`: models that could serve a key for less (`review --candidates`), from the
  price catalog and the config's own models
- `price_drift`: the review's price section: the config's prices against the catalog's,
  and what the difference did to the window's spend (`routing.prices.drift` compares the
  prices alone, for `llm-router prices`)
- `review`: the monthly routing review, its recommendations, and applying one
"""
