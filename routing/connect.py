"""A Redis client for LLM_ROUTER_REDIS_URL: one server, a Redis Cluster, or Sentinel.

- `redis://[[user]:password@]host[:port][/db]`, `rediss://...`, `unix:///path?db=n`: one
  server (redis-py's URL rules).
- `redis+cluster://[[user]:password@]host:port[,host:port...]` (or `rediss+cluster://`):
  a Redis Cluster, from any of its nodes. Every key of a namespace shares one hash slot
  (`routing.keys`), so the config store, budgets and ledger scripts run there unchanged.
- `redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]` (or
  `rediss+sentinel://`): the master of `service` as the sentinels report it, followed
  across failovers; the password is the master's (sentinels without auth).

The client of a cluster is redis-py's `RedisCluster`, which offers the commands, scripts,
pipelines and pub/sub this project uses; it is typed here as `redis.Redis`.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.driver_info import DriverInfo
from redis.sentinel import Sentinel

from routing.errors import RedisUrlError
from routing.redis_url import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEMES,
    URL_FORMS,
    check_url,
    nodes,
    redact_url,
    sentinel_service,
)

__all__ = ["connect", "redact_url"]


def _credentials(netloc: str) -> dict[str, Any]:
    userinfo = netloc.rpartition("@")[0]
    if not userinfo:
        return {}
    user, sep, password = userinfo.partition(":")
    out: dict[str, Any] = {"password": unquote(password) if sep else unquote(user)}
    if sep and user:
        out["username"] = unquote(user)
    return out


def connect(url: str, **options: Any) -> redis.Redis:
    """A client for `url` (see the module docstring); `options` go to the client. A URL
    that is not one of these raises `RedisUrlError` (the URL shown without password)."""
    # The client's name and version for CLIENT SETINFO, given as redis-py would find them:
    # it reads its version from the installed distribution's metadata (importing the
    # email parser, scanning the path) on every first connection.
    options.setdefault("driver_info", DriverInfo(lib_version=redis.__version__))
    try:
        check_url(url)
        return _connect(url, **options)
    except ValueError as exc:  # redis-py's and urllib's URL parsing, a port or db not a number
        raise RedisUrlError(redact_url(url), str(exc), URL_FORMS) from None


def _connect(url: str, **options: Any) -> redis.Redis:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in CLUSTER_SCHEMES:
        # redis-py types these constructors from 8.0 on only: they are called through Any
        # so that the code type-checks on every release the project allows, no ignore.
        startup = [cast(Any, ClusterNode)(host, port) for host, port in nodes(parts.netloc, 6379)]
        options.pop("health_check_interval", None)
        cluster = RedisCluster(startup_nodes=startup, ssl=scheme.startswith("rediss"),
                               **_credentials(parts.netloc), **options)
        return cast(redis.Redis, cluster)
    if scheme in SENTINEL_SCHEMES:
        service, db = sentinel_service(parts.path)
        tls = scheme.startswith("rediss")
        # rediss+sentinel: TLS to the sentinels as well as to the master they name
        sentinel_kwargs: dict[str, Any] = {"socket_timeout": options.get("socket_timeout")}
        if tls:
            sentinel_kwargs["ssl"] = True
        sentinel = cast(Any, Sentinel)(nodes(parts.netloc, 26379), sentinel_kwargs=sentinel_kwargs)
        master = sentinel.master_for(
            service, db=db, ssl=tls, **_credentials(parts.netloc), **options)
        return cast(redis.Redis, master)
    return redis.Redis.from_url(url, **options)
