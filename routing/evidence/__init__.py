"""Evidence: how each model key's models and trial candidates performed, and the review.

- `keys`: per-key evidence over a window of days (rates, latencies, agreement intervals)
- `review`: the monthly routing review, its recommendations, and applying one
"""
