"""The hardened transport is wired for Redis brokers only, with the lease settings."""

from __future__ import annotations

import ssl

import pytest
from celery import Celery

from routing.config.defaults import default_config
from workers.broker import TLS_TRANSPORT, TRANSPORT
from workers.broker.transport import Transport
from workers.celery_config import celery_config, visibility_timeout
from workers.settings import Settings


def config(url: str, **env: str | int) -> dict[str, object]:
    return celery_config(Settings(LLM_ROUTER_BROKER_URL=url, **env), default_config())


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache.example:6380/0",
                                 "redis://a:6379/0;redis://b:6379/0"])
def test_a_redis_broker_gets_the_transport_with_the_lease_settings(url: str) -> None:
    conf = config(url, LLM_ROUTER_BROKER_LEASE_SECONDS=30,
                  LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS=5, LLM_ROUTER_BROKER_LEASE_SWEEP_SECONDS=3)
    assert conf["broker_transport"] == (TLS_TRANSPORT if url.startswith("rediss") else TRANSPORT)
    options = conf["broker_transport_options"]
    assert isinstance(options, dict)
    assert (options["lease_timeout"], options["lease_renew_interval"],
            options["unacked_restore_interval"]) == (30, 5, 3)
    # The visibility timeout is unchanged: longer than the longest task, the outer bound
    assert options["visibility_timeout"] == visibility_timeout(Settings(), default_config())
    assert options["visibility_timeout"] > max(
        t.task_timeout_seconds for t in default_config().tiers.values())


def test_the_shipped_lease_is_20_seconds_renewed_every_4_swept_every_2() -> None:
    options = config("redis://127.0.0.1:6379/0")["broker_transport_options"]
    assert isinstance(options, dict)
    assert (options["lease_timeout"], options["lease_renew_interval"],
            options["unacked_restore_interval"]) == (20, 4, 2)


@pytest.mark.parametrize("url", ["memory://", "amqp://guest:guest@rabbit:5672//"])
def test_other_brokers_keep_kombus_transport(url: str) -> None:
    conf = config(url)
    assert conf["broker_transport"] is None and conf["broker_use_ssl"] is False
    options = conf["broker_transport_options"]
    assert isinstance(options, dict) and "lease_timeout" not in options
    # ...also when this configuration updates one made for a Redis broker (the demo does)
    app = Celery("check")
    app.conf.update(config("redis://127.0.0.1:6379/11"))
    app.conf.update(conf)
    assert app.conf.broker_transport is None
    with app.connection_for_write() as conn:
        assert not isinstance(conn.transport, Transport)
    app.close()


def test_rediss_keeps_tls_with_the_transport() -> None:
    # kombu turns TLS on from the URL scheme only under its own transport's name
    assert config("rediss://cache.example:6380/0")["broker_use_ssl"] == {
        "ssl_cert_reqs": ssl.CERT_NONE}
    assert config("rediss://h:6380/0?ssl_cert_reqs=required")["broker_use_ssl"] is False
    assert config("redis://h:6379/0")["broker_use_ssl"] is False


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/11", "rediss://127.0.0.1:6380/11"])
def test_celery_connects_through_the_transport_for_a_redis_url(url: str) -> None:
    app = Celery("check")
    app.conf.update(config(url))
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
        assert (conn.transport_options or {})["lease_timeout"] == 20
        # Its URL keeps the Redis scheme (logs, Flower's broker page), with TLS for rediss
        assert conn.as_uri().split("://")[0] == url.split("://")[0]
        assert bool(conn.ssl) == url.startswith("rediss")
    app.close()


def test_a_rabbitmq_broker_gets_quorum_tier_queues_and_publisher_confirms() -> None:
    conf = config("amqp://guest:guest@rabbit:5672//")
    assert conf["broker_transport_options"] == {"confirm_publish": True}
    queues = {q.name: q for q in conf["task_queues"]}  # type: ignore[attr-defined]
    tiers = {tier.queue for tier in default_config().tiers.values()}
    assert set(queues) == {"celery", *tiers}
    for name in tiers:
        # durable quorum queues on a topic exchange (Celery's native delayed delivery)
        queue = queues[name]
        assert queue.queue_arguments == {"x-queue-type": "quorum"} and queue.durable
        assert (queue.exchange.name, queue.exchange.type, queue.routing_key) == (
            "llm.tiers", "topic", name)
    # The default queue as any Celery app declares it (foreign producers send there)
    assert not queues["celery"].queue_arguments
    assert (queues["celery"].exchange.name, queues["celery"].exchange.type) == ("celery",
                                                                                "direct")
    # A tier queue Celery creates later (a tier added to the config) is made the same way
    assert (conf["task_create_missing_queue_type"],
            conf["task_create_missing_queue_exchange_type"]) == ("quorum", "topic")
    # ...and a Redis broker keeps Celery's defaults
    redis_conf = config("redis://127.0.0.1:6379/0")
    assert (redis_conf["task_create_missing_queue_type"],
            redis_conf["task_create_missing_queue_exchange_type"]) == ("classic", None)
    assert all(not q.queue_arguments for q in redis_conf["task_queues"])  # type: ignore[attr-defined]
