"""Benchmarks of llm-router against bare Celery, measured side by side in one run.

    .venv/bin/python -m bench [--quick | --full | --tiny] [--redis-url URL]

See `bench.run` for what is measured; every figure that matters is a ratio of two
measurements taken in alternating rounds of the same run (the machine is shared).
"""
