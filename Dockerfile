# One image for every llm-router process (workers per tier, Beat, Flower, metrics, CLI).
# No secrets are baked in: provider keys reach containers at run time (docker-compose
# passes them from `.env`, which is never committed nor copied into the image).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY requirements/runtime.lock ./requirements/
COPY pyproject.toml README.md beat_schedule.py ./
COPY routing ./routing
COPY tasks ./tasks
COPY workers ./workers
COPY cli ./cli
# The locked versions (scripts/lock.sh moves them), then the project without resolving.
RUN pip install --require-hashes --no-deps -r requirements/runtime.lock \
    && pip install --no-deps --no-build-isolation . \
    && rm -rf /src \
    && useradd --create-home --uid 10001 --user-group llmr \
    && mkdir -p /data \
    && chown llmr:llmr /data

# Named volumes mounted on /data start with this ownership (Beat schedule, Flower db).
USER llmr
WORKDIR /data

# 5555: Flower; 9464: Prometheus metrics (`llm-router metrics`).
EXPOSE 5555 9464

CMD ["llm-router", "--help"]
