"""A tiny shop (the agents example's sample repository)."""
