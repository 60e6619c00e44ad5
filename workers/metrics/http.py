"""Serving the metrics: an HTTP endpoint (`/metrics`) on its own registry and thread."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from workers.metrics import DEFAULT_PORT
from workers.metrics.collector import RouterCollector
from workers.metrics.snapshot import ConsumerLookup, MetricsSource
from workers.settings import Settings

log = logging.getLogger(__name__)



@dataclass
class MetricsServer:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def registry_for(source: MetricsSource) -> CollectorRegistry:
    """A registry holding only the deployment's metrics (not this process's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RouterCollector(source))
    return registry


def serve(
    source: MetricsSource, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> MetricsServer:
    """Serve `source` on http://host:port/metrics from a daemon thread (port 0: any free)."""
    server, thread = start_http_server(port, addr=host, registry=registry_for(source))
    return MetricsServer(server, thread)


def serve_from_worker(
    settings: Settings, host: str = "0.0.0.0", consumers: ConsumerLookup | None = None
) -> MetricsServer | None:
    """In a worker: serve when LLM_ROUTER_METRICS_PORT is set. Every process serves the
    same deployment-wide totals, so when another process on this host already holds the
    port this one logs it and goes on without an endpoint."""
    if not settings.metrics_port:
        return None
    from workers.metrics.source import RedisMetricsSource

    source = RedisMetricsSource(settings, consumers)
    try:
        return serve(source, host=host, port=settings.metrics_port)
    except OSError as exc:
        source.close()
        log.info("metrics: port %s not served by this process (%s); another process on "
                 "this host serves the same totals", settings.metrics_port, exc.strerror)
        return None
