"""Running the LLM work on Celery workers.

- `settings`: typed settings from the environment (the one place that reads it)
- `errors`: the errors a task fails with (`TaskError` and its kinds)
- `contract`: what a task asks of a model, between tasks and execution
- `providers/`: the SDK adapters (Anthropic, OpenAI-compatible) and the simulated one
- `metrics/`: Prometheus metrics of a deployment, read from Redis at scrape time
- `execution/`: the execution policy (pure) and its Celery side
- `app`, `celery_config`, `queues`, `lifecycle`: the Celery app and its wiring
"""
