#!/usr/bin/env bash
# The one command that sets up and runs the whole test suite (README: `bash scripts/test.sh`).
# Creates .venv, installs the project with its dev extra, starts Redis if the redis-server
# binary exists and nothing answers on 127.0.0.1:6379, checks that RabbitMQ answers on
# 127.0.0.1:5672, installs headless Chromium (apt-get) if missing, then runs ruff, mypy,
# lint-imports, the documentation build (mkdocs --strict) and pytest: the whole suite on
# Redis, then the broker tests (workers, tasks) once more on RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh ".[dev]"

redis_up() {
    .venv/bin/python - <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", 6379)); s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
if ! redis_up; then
    if command -v redis-server >/dev/null 2>&1; then
        mkdir -p /tmp/llm-router-redis
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
            --appendonly no --dir /tmp/llm-router-redis --logfile /tmp/llm-router-redis/redis.log
        for _ in $(seq 50); do redis_up && break; sleep 0.1; done
    else
        echo "Redis is not answering on 127.0.0.1:6379 and redis-server is not installed." >&2
        echo "Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)" >&2
        echo "or point LLM_ROUTER_TEST_REDIS_URL at a Redis you own." >&2
        exit 1
    fi
fi
redis_up || { echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }

# RabbitMQ: the broker tests run on it too (a vhost per test session, made with rabbitmqctl).
rabbitmq_up() {
    .venv/bin/python - <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", 5672), timeout=2) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        sys.exit(0 if s.recv(1) == b"\x01" else 1)  # Connection.Start
except OSError:
    sys.exit(1)
PY
}
if ! rabbitmq_up; then
    echo "RabbitMQ is not answering on 127.0.0.1:5672: the broker tests run on it as well as" >&2
    echo "on Redis. Start it (as root): rabbitmq-server -detached   or: service rabbitmq-server start" >&2
    echo "(not installed: apt-get install rabbitmq-server; macOS: brew install rabbitmq)" >&2
    exit 1
fi

# The HTML report tests render the page in a real browser: headless Chromium from Debian's
# package, installed here where it is missing and apt-get exists (the tests fail with the
# install command otherwise; LLM_ROUTER_CHROMIUM may name another Chromium binary).
if [ -z "${LLM_ROUTER_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
        && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
    echo "installing chromium (apt-get) for the HTML report tests" >&2
    if ! { $SUDO apt-get update -qq >/dev/null &&
           DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; }; then
        echo "could not install chromium: run apt-get install -y chromium as root" >&2
    fi
fi

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
# The manual (docs/, mkdocs.yml): --strict with mkdocs.yml's validation fails on a broken
# link or anchor and on a page missing from the navigation. Built into a temporary directory.
site_dir="$(mktemp -d)"
trap 'rm -rf "$site_dir"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site_dir"
# Three test processes on two cores: most tests wait on workers, Redis and the test LLM
# server, not on the CPU (LLM_ROUTER_TEST_PROCESSES=0: one process).
.venv/bin/python -m pytest -n "${LLM_ROUTER_TEST_PROCESSES:-3}" "$@"
# The broker tests again, on RabbitMQ (tests/conftest.py marks them `broker`), each file
# in one process (--dist loadfile): a module's costly fixture (test_flower's workers and
# Flower) is then built once, not once per process (61 s instead of 77 s here, for 88 tests).
echo "== the broker tests once more, on RabbitMQ (LLM_ROUTER_TEST_BROKER=amqp) ==" >&2
LLM_ROUTER_TEST_BROKER=amqp .venv/bin/python -m pytest -n "${LLM_ROUTER_TEST_PROCESSES:-3}" \
    --dist loadfile -m broker "$@"
