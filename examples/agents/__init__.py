"""The routing strategy's multi-agent system, runnable: `python -m examples.agents`."""
