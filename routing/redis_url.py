"""The Redis URLs `routing.connect` takes, read without I/O and without redis-py: the
check of LLM_ROUTER_REDIS_URL when the settings load, and a URL shown without its password.

- `redis://[[user]:password@]host[:port][/db]`, `rediss://...`, `unix:///path?db=n`: one
  server (redis-py's URL rules; a database that is not a number is refused here, where
  redis-py would quietly use database 0).
- `redis+cluster://[[user]:password@]host:port[,host:port...]` (or `rediss+cluster://`).
- `redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]` (or
  `rediss+sentinel://`).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

SERVER_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
# What a refusal of LLM_ROUTER_REDIS_URL says it expects.
URL_FORMS = ("redis://[:password@]host:port/db (or rediss://, unix:///path, "
             "redis+cluster://host:port[,host:port], "
             "redis+sentinel://host:port[,host:port]/service[/db])")


def is_topology_url(url: str) -> bool:
    """A Redis Cluster or Sentinel URL: the routing data can live there, Celery's broker
    and result backend cannot."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES + SENTINEL_SCHEMES


def redact_url(url: str) -> str:
    """A Redis URL without its password (for messages and logs); a multi-host URL
    (`redis+cluster://:pw@h1:7000,h2:7001`, `redis+sentinel://...`) keeps its hosts."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not even a URL: hide whatever stands before an '@'
        return re.sub(r"//[^/]*@", "//***@", url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if at and ":" not in userinfo and parts.scheme.lower() in CLUSTER_SCHEMES + SENTINEL_SCHEMES:
        return urlunsplit(parts._replace(netloc=f"***@{hosts}"))  # a bare password
    if not at or ":" not in userinfo:
        return url
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hosts}"))


def check_url(url: str) -> None:
    """Raise `ValueError` (the reason) unless `url` is one of the forms above."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in CLUSTER_SCHEMES:
        nodes(parts.netloc, 6379)
    elif scheme in SENTINEL_SCHEMES:
        sentinel_service(parts.path)
        nodes(parts.netloc, 26379)
    elif scheme in SERVER_SCHEMES:
        if scheme == "unix":
            if not parts.path:
                raise ValueError("a unix:// URL names the socket's path: unix:///path/redis.sock")
            return
        _ = parts.port  # a port that is not a number raises ValueError
        db = unquote(parts.path).strip("/")
        if db and not db.isdigit():
            raise ValueError(f"the database {db!r} after the host is not a number")
    else:
        raise ValueError(f"the scheme {parts.scheme + '://' if parts.scheme else 'is missing'}"
                         " is not one of redis://, rediss://, unix://, redis+cluster://, "
                         "redis+sentinel://")


def nodes(netloc: str, default_port: int) -> list[tuple[str, int]]:
    """The (host, port) pairs of a multi-host URL's `netloc`."""
    hosts = netloc.rpartition("@")[2]
    found: list[tuple[str, int]] = []
    for part in filter(None, hosts.split(",")):
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "")
        if port and not port.isdigit():
            raise ValueError(f"port {port!r} of host {host!r} is not a number")
        found.append((host or part, int(port) if port else default_port))
    if not found:
        raise ValueError("the URL names no host:port")
    return found


def sentinel_service(path: str) -> tuple[str, int]:
    """The service and database of a Sentinel URL's path."""
    names = [p for p in path.split("/") if p]
    if not names:
        raise ValueError("a Sentinel URL names the service after the hosts: "
                         "redis+sentinel://host:26379/mymaster[/db]")
    if len(names) > 1 and not names[1].isdigit():
        raise ValueError(f"the database {names[1]!r} after the service is not a number")
    return names[0], int(names[1]) if len(names) > 1 else 0
