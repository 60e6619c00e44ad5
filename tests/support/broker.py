"""The broker the task-layer tests run on: Redis (the default) or RabbitMQ
(LLM_ROUTER_TEST_BROKER=amqp). `scripts/test.sh` runs the tests marked `broker` (every
test that uses the Celery session: workers, tasks) once on each.

A test session, and a test that wants a broker of its own (`BrokerPlaces.place`), gets a
place of its own: a key prefix on Redis (LLM_ROUTER_BROKER_PREFIX), a vhost on RabbitMQ
(created with rabbitmqctl, deleted afterwards) with that prefix too, for the result
backend, which stays in Redis on both. RabbitMQ is expected at 127.0.0.1:5672 (guest,
rabbitmqctl as root); if it does not answer, the run fails with the command that starts
it; it never skips.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from typing import Any

import pytest
import redis
from amqp.exceptions import NotFound
from kombu import Connection

from tests.support.redis import delete_matching

BROKERS = ("redis", "amqp")
TEST_BROKER = os.environ.get("LLM_ROUTER_TEST_BROKER", "redis")
AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
START_RABBITMQ = "rabbitmq-server -detached   (or: service rabbitmq-server start)"


def amqp_url(vhost: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"


def rabbitmqctl(*args: str) -> str:
    try:
        done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError:
        pytest.fail(f"rabbitmqctl is not installed; install RabbitMQ and start it with:\n"
                    f"  {START_RABBITMQ}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed (it must run as root, beside the "
                    f"server): {done.stderr.strip() or done.stdout.strip()}", pytrace=False)
    return done.stdout


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=2) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"  # Connection.Start: a method frame
    except OSError:
        return False


class BrokerPlaces:
    """Places of their own on the test broker, each deleted by `drop`."""

    def __init__(self, kind: str, redis_url: str) -> None:
        if kind not in BROKERS:
            pytest.fail(f"LLM_ROUTER_TEST_BROKER={kind!r}: expected one of "
                        f"{', '.join(BROKERS)}", pytrace=False)
        if kind == "amqp" and not rabbitmq_answers():
            pytest.fail(f"RabbitMQ is not answering on {AMQP_HOST}:{AMQP_PORT} "
                        f"(LLM_ROUTER_TEST_BROKER=amqp); start it with:\n  {START_RABBITMQ}",
                        pytrace=False)
        self.kind = kind
        self.redis_url = redis_url

    def place(self, prefix: str) -> dict[str, str]:
        """The environment of a new place: `prefix` for the broker (Redis) and the result
        backend's keys, and on RabbitMQ the URL of a new vhost named after it."""
        env = {"LLM_ROUTER_BROKER_PREFIX": prefix}
        if self.kind == "amqp":
            vhost = prefix.rstrip(":").replace(":", ".")
            rabbitmqctl("add_vhost", vhost)
            rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            env["LLM_ROUTER_BROKER_URL"] = amqp_url(vhost)
        return env

    def drop(self, env: dict[str, str]) -> None:
        """Delete a place: its vhost (RabbitMQ) and its keys."""
        url = env.get("LLM_ROUTER_BROKER_URL", "")
        if url.startswith("amqp://"):
            rabbitmqctl("delete_vhost", url.rsplit("/", 1)[1])
        delete_matching(self.redis_url, f"{env['LLM_ROUTER_BROKER_PREFIX']}*")


def waiting(env: dict[str, str], queue: str) -> list[dict[str, Any]]:
    """The messages waiting in `queue` of the broker place `env` names (each with its
    Celery `headers`), left where they are."""
    url = env.get("LLM_ROUTER_BROKER_URL", "")
    if url.startswith("amqp://"):
        found: list[dict[str, Any]] = []
        with Connection(url) as conn:
            channel: Any = conn.channel()
            try:
                channel.queue_declare(queue, passive=True)
            except NotFound:
                return found
            # (fetched unacknowledged: they go back to the queue when the connection closes)
            while (message := channel.basic_get(queue)) is not None:
                found.append({"headers": message.headers})
        return found
    client = redis.Redis.from_url(env["LLM_ROUTER_REDIS_URL"])
    try:
        raw = client.lrange(env["LLM_ROUTER_BROKER_PREFIX"] + queue, 0, -1)
    finally:
        client.close()
    return [json.loads(m) for m in raw]
