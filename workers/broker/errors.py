"""Errors of the broker transport."""

from __future__ import annotations


class BrokerError(Exception):
    """Root of the broker transport's errors."""


class LeaseOptionsError(BrokerError, ValueError):
    """The lease transport options contradict each other; the message says how to fix."""


class KombuChangedError(BrokerError, RuntimeError):
    """The installed kombu lacks an internal this transport relies on: the message names
    each one and what to re-check before using this kombu."""
