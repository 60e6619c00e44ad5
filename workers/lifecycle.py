"""What a worker does at start and stop, as worker bootsteps (so that it runs in every
kind of worker: `celery worker`, `llm-router worker`, and in-thread test workers):
load the live config before taking tasks, refuse to start without the route headers' key
(LLM_ROUTER_HEADER_KEYS, live mode) or when a model of the worker's tiers has no API key
(live mode), warn of simulated error rates that name no model, run
the deferred-task releaser, serve metrics when LLM_ROUTER_METRICS_PORT is set, and let go
of all of it at shutdown. On RabbitMQ, declare the tier queues before consuming, refusing
to start when one is in the way."""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery, bootsteps
from celery.platforms import EX_FAILURE
from celery.signals import celeryd_init, worker_process_init

from routing.errors import RoutingError
from routing.spend.deferred import Releaser
from workers import nodenames, result_repr
from workers.broker.errors import QueueTypeError
from workers.broker.rabbitmq import declare_tier_queues, quiet_default_exchange_notice
from workers.celery_config import visibility_warning
from workers.consumers import CONSUMERS_TIMEOUT, queue_consumers
from workers.errors import HeaderKeysMissingError, MissingKeysError
from workers.execution import announce
from workers.execution.runtime import get_runtime
from workers.metrics.http import MetricsServer, serve_from_worker
from workers.providers.simulated import error_rate_problems
from workers.settings import broker_kind, get_settings

log = logging.getLogger(__name__)


class RouterStep(bootsteps.StartStopStep):
    """One per worker: the releaser of deferred tasks and the metrics endpoint."""

    label = "llm-router"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.releaser: Releaser | None = None
        self.metrics: MetricsServer | None = None

    def start(self, parent: Any) -> None:
        try:
            self._start(parent)
        except (RoutingError, MissingKeysError) as exc:
            # What is wrong and what to do, in one line, exit 1: not Celery's "Unrecoverable
            # error" and its traceback around the same message.
            log.critical("%s", exc)
            raise SystemExit(EX_FAILURE) from None

    def _start(self, parent: Any) -> None:
        rt = get_runtime()
        if not rt.settings.signing_keys:  # live mode without LLM_ROUTER_HEADER_KEYS
            raise HeaderKeysMissingError()
        cfg = rt.live.get()  # fail fast, before any task, if no config can be had
        log.info("llm-router worker: config version %d, namespace %s",
                 cfg.version, rt.settings.namespace)
        app: Celery = parent.app
        effective = (app.conf.broker_transport_options or {}).get("visibility_timeout")
        if isinstance(effective, int | float):
            warning = visibility_warning(rt.settings, cfg, int(effective))
            if warning is not None:
                log.warning("llm-router worker: %s", warning)
        # A tier whose provider key is missing would fall back, task after task, to
        # other tiers; refuse to start instead, naming the variable (live mode only).
        selected = app.amqp.queues.consume_from
        consumed = set(selected if selected else app.amqp.queues)
        tiers = sorted(name for name, tier in cfg.tiers.items() if tier.queue in consumed)
        missing = rt.providers.missing_keys(
            {name: spec for name, spec in cfg.models.items() if spec.tier in tiers})
        if missing:
            raise MissingKeysError(missing, tiers)
        for problem in error_rate_problems(rt.settings.simulated_error_rates, cfg.models,
                                           simulated=rt.settings.provider_mode == "simulated"):
            log.warning("LLM_ROUTER_SIMULATED_ERROR_RATES: %s", problem)

        def publish(payload: dict[str, Any]) -> None:
            app.signature(payload).apply_async()

        self.releaser = Releaser(rt.deferred, publish)
        self.releaser.start()
        self.metrics = serve_from_worker(
            rt.settings, consumers=lambda: queue_consumers(app, CONSUMERS_TIMEOUT))

    def stop(self, parent: Any) -> None:
        if self.releaser is not None:
            self.releaser.stop()
            self.releaser = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None


class QueuesStep(bootsteps.StartStopStep):
    """On RabbitMQ, before the consumer: the tier queues as quorum queues
    (`workers.broker.rabbitmq`); a queue of another type in the way stops the worker with
    `QueueTypeError`, naming it and the fix."""

    label = "llm-router-queues"

    def include_if(self, parent: Any) -> bool:
        return broker_kind(str(parent.app.conf.broker_url)) == "amqp"

    def start(self, parent: Any) -> None:
        app: Celery = parent.app
        with app.connection_for_write() as conn:
            # (as the consumer would: wait for the broker, logging each retry)
            conn.ensure_connection(
                errback=lambda exc, interval: log.warning(
                    "cannot reach the broker to declare the tier queues (%s); retrying in "
                    "%.0f s", exc, interval),
                max_retries=app.conf.broker_connection_max_retries)
            try:
                names = declare_tier_queues(conn, app.amqp.queues.values())
            except QueueTypeError as exc:
                # What to do, in one line: not Celery's "Unrecoverable error" traceback.
                log.critical("%s", exc)
                raise SystemExit(EX_FAILURE) from None
        quiet_default_exchange_notice()
        log.info("tier queues declared (quorum): %s", ", ".join(names))


class EventsStep(bootsteps.StartStopStep):
    """In the consumer, after its event dispatcher: lends it to tasks that run in place
    (`workers.execution.announce`)."""

    label = "llm-router-events"
    requires = ("celery.worker.consumer.events:Events",)

    def start(self, c: Any) -> None:
        announce.register(c.app, c.event_dispatcher)

    def stop(self, c: Any) -> None:
        announce.register(c.app, None)


# The node name a plain `celery worker` claimed (its lock lives as long as this process).
_claimed: list[nodenames.NodeName] = []


def own_node_name(instance: Any, options: dict[str, Any], argv: list[str]) -> None:
    """A `celery -A workers.app worker` not named with -n/--hostname takes a node name no
    other worker of its broker on this host has (`workers.nodenames`), as `llm-router
    worker` does: Celery's default `celery@host` is the same for every worker of a host."""
    name, at, host = str(instance.hostname).partition("@")
    if nodenames.given_hostname(argv) or name != "celery" or not at:
        return  # named (-n, or by `llm-router worker`, which claimed its name already)
    try:
        settings = get_settings()
    except Exception:  # refused settings: RouterStep says why and stops the worker
        return
    node = nodenames.claim(nodenames.name_for_queues(options.get("queues")),
                           f"{settings.broker_url}|{settings.broker_prefix}", host)
    _claimed.append(node)
    instance.hostname = node.name


def connect(app: Celery) -> None:
    result_repr.install()  # the same log line and event text, ~0.1 ms less CPU a task
    app.steps["worker"].add(RouterStep)
    app.steps["worker"].add(QueuesStep)
    app.steps["consumer"].add(EventsStep)

    @celeryd_init.connect(weak=False)
    def _name(sender: Any = None, instance: Any = None, options: Any = None,
              **_: Any) -> None:
        if instance is not None and getattr(instance, "app", None) is app:
            own_node_name(instance, dict(options or {}), sys.argv[1:])

    @worker_process_init.connect(weak=False)
    def _child(**_: Any) -> None:
        try:
            get_runtime().live.get()  # a prefork child loads its own config
        except RoutingError:
            # The main process says why and stops the worker (RouterStep); the child loads
            # it again at its first task: no traceback from a signal handler here.
            return
