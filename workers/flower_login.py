"""Flower never serves this app without a login, whichever command starts it.

Flower shows every task's kwargs and result (prompts, answers). `celery -A workers.app
flower` is how every Celery user starts it, and `llm-router flower` runs the same command:
both build Flower's application, which first imports the app's default modules (Celery's
`import_modules` signal). By then Flower has read its options (command line, FLOWER_*
variables, flowerconfig.py); it has not bound its port yet. A receiver of that signal
looks at those options when the command running is Flower's and stops it (one line,
exit 2) unless basic auth or OAuth is set. Every other command sends the same signal
(a worker at start): the receiver returns at once for them.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import click
from celery import Celery
from celery.signals import import_modules

EXIT_INVALID = 2
# One `user:password` of FLOWER_BASIC_AUTH (Flower splits the variable on commas).
PAIR = re.compile(r"^[^:,\s]+:[^,\s]+$")
REFUSED = ("FLOWER_BASIC_AUTH must be set to user:password[,user2:password2] (or OAuth: "
           "FLOWER_AUTH with FLOWER_AUTH_PROVIDER): Flower shows every task's prompt and "
           "answer, so it does not start without a login")


def login_problem(basic_auth: list[str] | tuple[str, ...] | None, auth: str | None) -> str | None:
    """Why Flower with these options would serve without a login (None: it would not).
    `basic_auth` is Flower's list of `user:password`; `auth` its OAuth e-mail pattern."""
    if auth:
        return None  # OAuth: pages need a login cookie of an account matching `auth`
    pairs = list(basic_auth or ())
    if pairs and all(PAIR.match(pair) for pair in pairs):
        return None
    return REFUSED


def _flower_command() -> bool:
    """Whether the command this process is running is Flower's (`celery ... flower`)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.command.name == "flower" and "flower.command" in sys.modules


def _refuse_without_login(**_: Any) -> None:
    if not _flower_command():
        return
    from tornado.options import options  # Flower's options, as it parsed them

    problem = login_problem(options.basic_auth, options.auth)
    if problem is not None:
        # Not an exception: Celery's signal dispatch logs those with a traceback first.
        click.echo(f"Error: {problem}", err=True)
        raise SystemExit(EXIT_INVALID)


def connect(app: Celery) -> None:
    import_modules.connect(_refuse_without_login, sender=app, weak=False)
