"""Running the LLM work on Celery workers.

- `settings`: typed settings from the environment (the one place that reads it);
  `plain_settings`: the same for read-only commands, without building the pydantic model
- `errors`: the errors a task fails with (`TaskError` and its kinds)
- `contract`: what a task asks of a model, between tasks and execution; `turns`: agent
  turns (content blocks, tools, tool choice) in one neutral form
- `providers/`: the SDK adapters (Anthropic, OpenAI-compatible), the simulated provider,
  provider batches and the providers' usage reports
- `execution/`: the execution policy (pure) and its Celery side
- `broker/`: what is particular to each broker (Redis delivery leases, RabbitMQ queues)
- `metrics/`: Prometheus metrics of a deployment, read from Redis at scrape time
- `app`, `celery_config`, `queues`, `lifecycle`: the Celery app and its wiring;
  `result_backend`, `result_repr`: Celery's result store and a result's text, cheaper;
  `nodenames`: a node name per worker process; `consumers`: which workers consume each
  queue; `beat`: Beat's scheduler (redbeat); `flower_login`: Flower only behind a login;
  `attribution`: a task's agent and run kept across everything it sends
"""
