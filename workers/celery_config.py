"""Settings -> Celery configuration, in exactly one place."""

from __future__ import annotations

import math
import ssl
from typing import Any
from urllib.parse import urlsplit

from celery.app.defaults import DEFAULTS

from routing.config.models import RoutingConfig
from routing.redis_url import redact_url
from workers.broker import TLS_TRANSPORT, TRANSPORT, is_redis_url
from workers.contract import DEFAULT_QUEUE
from workers.errors import BrokerURLError
from workers.queues import route_task, tier_queues
from workers.result_backend import backend_url
from workers.settings import Settings

# Beat's scheduler (imported by Beat alone: workers and producers never load redbeat).
BEAT_SCHEDULER = "workers.beat:Scheduler"
# Added to the derived visibility timeout: time to notice a lost worker, clock skew.
VISIBILITY_MARGIN_SECONDS = 300
# The AMQP heartbeat a worker proposes to RabbitMQ (the lower of the two sides' wins). Each
# side sends a heartbeat frame every half of it and gives the connection up after two
# heartbeats (20 s) without a byte from the other: a half-open connection (a host gone, a
# partition, a NAT dropping the flow) is noticed by RabbitMQ within 20 to 30 s, and it
# requeues the worker's unacknowledged tasks for its siblings (120 to 180 s with
# RabbitMQ's 60 s). Not lower: RabbitMQ calls values under 5 s prone to false alarms, and
# a worker's heartbeats come from its event loop, which a busy main thread (prefork's
# result handling, a burst of events) may hold up for a few seconds; 10 s leaves it 20 s.
# Only the consumer's connection carries heartbeats (producers' connections propose none).
AMQP_HEARTBEAT_SECONDS = 10


def minimum_visibility_timeout(settings: Settings, config: RoutingConfig) -> int:
    """The longest task plus the longest retry delay plus a margin: a delivery is held at
    most that long by a healthy worker."""
    longest_task = max(t.task_timeout_seconds for t in config.tiers.values())
    return math.ceil(longest_task + settings.retry_max_delay + VISIBILITY_MARGIN_SECONDS)


def visibility_timeout(settings: Settings, config: RoutingConfig) -> int:
    """LLM_ROUTER_VISIBILITY_TIMEOUT, or derived (`minimum_visibility_timeout`), so nothing is
    redelivered while a healthy worker still holds it."""
    return settings.visibility_timeout or minimum_visibility_timeout(settings, config)


def visibility_warning(settings: Settings, config: RoutingConfig, effective: int) -> str | None:
    """What a worker logs at start when the Redis broker's visibility timeout in effect is
    below the minimum derived from `config` (its live routing config); None when it is not.
    The timeout is the outer bound of a delivery: one held longer goes back to its queue
    even while its worker is alive and renewing its lease, so a longer task runs twice."""
    if not is_redis_url(settings.broker_url):
        return None  # other brokers have no visibility timeout
    minimum = minimum_visibility_timeout(settings, config)
    if effective >= minimum:
        return None
    longest = max(t.task_timeout_seconds for t in config.tiers.values())
    derived = (f"the longest tier task_timeout_seconds {longest:g} + LLM_ROUTER_RETRY_MAX "
               f"{settings.retry_max_delay:g} + {VISIBILITY_MARGIN_SECONDS} s margin")
    if settings.visibility_timeout:
        return (f"LLM_ROUTER_VISIBILITY_TIMEOUT={settings.visibility_timeout} is below the "
                f"derived minimum of {minimum} s ({derived}): a task running longer than "
                f"{settings.visibility_timeout} s is delivered again while it still runs; "
                f"raise it to at least {minimum} or unset it to derive it")
    return (f"the visibility timeout derived from the shipped config, {effective} s, is below "
            f"the {minimum} s the routing config in Redis needs ({derived}); set "
            f"LLM_ROUTER_VISIBILITY_TIMEOUT={minimum} for every worker and producer")


def beat_config(settings: Settings) -> dict[str, Any]:
    """Beat: the crons of `beat_schedule.SCHEDULE` (expiries included), sent by
    celery-redbeat (`workers.beat`), which keeps the schedule's state and a lock in the
    routing Redis (one server, a Cluster or Sentinel) under this deployment's namespace.
    Any number of Beat replicas may run: the one holding the lock sends, the others wait
    for it (and take over within the lock's timeout when the holder dies); each entry's
    last run is in Redis, so a takeover sends nothing twice."""
    from beat_schedule import SCHEDULE

    lock_timeout = settings.beat_lock_timeout
    return {
        "beat_schedule": SCHEDULE,
        "beat_scheduler": BEAT_SCHEDULER,
        # Beat wakes at least this often; each wake renews the lock.
        "beat_max_loop_interval": lock_timeout / 5,
        "redbeat_redis_url": settings.redis_url,
        "redbeat_key_prefix": settings.key("redbeat") + ":",
        "redbeat_lock_timeout": lock_timeout,
        # Options of Beat's Redis client (not the broker's transport options): ride out a
        # Redis outage shorter than the lock's life instead of exiting.
        "redbeat_redis_options": {"retry_period": lock_timeout},
    }


def celery_config(settings: Settings, config: RoutingConfig) -> dict[str, Any]:
    unset = [name for name, value in (("LLM_ROUTER_BROKER_URL", settings.broker_url),
                                      ("LLM_ROUTER_RESULT_BACKEND", settings.result_backend))
             if not value]
    if unset:
        raise BrokerURLError(
            f"LLM_ROUTER_REDIS_URL ({redact_url(settings.redis_url)}) is a Redis Cluster or "
            f"Sentinel URL, which Celery's broker and result backend cannot use: set "
            f"{' and '.join(unset)} (one Redis server, e.g. redis://redis-broker:6379/0, or "
            "an amqp:// broker)"
        )
    backend_transport: dict[str, Any] = {}
    if settings.broker_prefix:
        backend_transport["global_keyprefix"] = settings.broker_prefix
    broker = (_rabbitmq_broker(config) if settings.broker_kind == "amqp"
              else _redis_broker(settings, config))
    return {
        **broker,
        "broker_url": settings.broker_url,
        "result_backend": backend_url(settings.result_backend),
        "result_backend_transport_options": backend_transport,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": DEFAULT_QUEUE,
        "task_create_missing_queues": True,
        "task_routes": (route_task,),
        # Nothing lost: ack after the task ran; a killed worker's task goes back.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_track_started": True,
        "result_expires": settings.result_expires_seconds,
        "result_extended": True,
        # Events on, so that Flower sees every task.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_prefetch_multiplier": 1,
        "timezone": "UTC",
        "enable_utc": True,
        **beat_config(settings),
    }


def _rabbitmq_broker(config: RoutingConfig) -> dict[str, Any]:
    """On RabbitMQ, kombu's py-amqp transport with publisher confirms (a publish returns
    once the broker has the message), the tier queues as quorum queues (replicated on a
    cluster; a delivery whose consumer's connection drops goes back at once), and a tier
    queue created later (a tier added to the config) made the same way. Countdowns use
    Celery's native delayed delivery (`worker_detect_quorum_queues`, on by default): the
    message waits in the broker, in whole seconds (`workers.execution.runner` rounds up)."""
    return {
        "broker_transport": None,
        "broker_use_ssl": False,
        "broker_heartbeat": AMQP_HEARTBEAT_SECONDS,
        "broker_transport_options": {"confirm_publish": True},
        "task_queues": tier_queues(config, quorum=True),
        "task_create_missing_queue_type": "quorum",
        "task_create_missing_queue_exchange_type": "topic",
        "broker_native_delayed_delivery_queue_type": "quorum",
    }


def _redis_broker(settings: Settings, config: RoutingConfig) -> dict[str, Any]:
    """On a Redis broker, the hardened transport (workers/broker): a worker that dies has
    its tasks run again after its lease (seconds) instead of the visibility timeout, and a
    Redis restart does not kill busy workers. Other brokers but RabbitMQ (memory://) keep
    kombu's transport (said explicitly, as every broker setting: this configuration may
    update one made for another broker)."""
    visibility = visibility_timeout(settings, config)
    transport: dict[str, Any] = {
        "visibility_timeout": visibility,
        # Look for messages of dead workers every few seconds (kombu's default sweep is
        # 10 s x a throttle of 10, which can leave a lost task waiting ~100 s more).
        "unacked_restore_interval": max(1, min(10, visibility // 3)),
        "unacked_restore_throttle": 1,
    }
    if settings.broker_prefix:
        transport["global_keyprefix"] = settings.broker_prefix
    out: dict[str, Any] = {
        "broker_transport": None,
        "broker_use_ssl": False,
        "broker_heartbeat": DEFAULTS["broker_heartbeat"],  # (AMQP's alone: Redis has none)
        "broker_transport_options": transport,
        "task_queues": tier_queues(config),
        "task_create_missing_queue_type": "classic",
        "task_create_missing_queue_exchange_type": None,
    }
    if not is_redis_url(settings.broker_url):
        return out
    transport.update({
        "lease_timeout": settings.broker_lease_seconds,
        "lease_renew_interval": settings.broker_lease_renew_seconds,
        # kombu's sweep period: expired leases first, then the visibility timeout
        "unacked_restore_interval": settings.broker_lease_sweep_seconds,
    })
    if settings.broker_pause_before_record:
        transport["pause_before_record"] = settings.broker_pause_before_record
    url = urlsplit(settings.broker_url.split(";", 1)[0])
    tls = url.scheme.lower() == "rediss"
    out["broker_transport"] = TLS_TRANSPORT if tls else TRANSPORT
    if tls and "ssl_cert_reqs" not in url.query:
        # kombu turns TLS on from the rediss scheme only with its own transport name; keep
        # what it does then (TLS, certificate not verified, as kombu warns) with ours.
        out["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_NONE}
    return out
