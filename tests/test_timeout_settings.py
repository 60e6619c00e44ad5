"""Timeouts in the environment: a non-finite one is refused by name; a visibility timeout
below what the routing config needs (the longest tier task timeout + LLM_ROUTER_RETRY_MAX
+ a margin: the outer bound of a delivery, past which a live task is delivered again) is
logged as a WARNING by every worker at start, naming the variable, its value and the
derived minimum."""

from __future__ import annotations

import copy
import uuid

import pytest

from routing.config.defaults import default_config, default_document
from routing.config.load import load_config
from tests.support.celery import ALL_QUEUES, Session, WorkerProcess
from workers.celery_config import (
    VISIBILITY_MARGIN_SECONDS,
    minimum_visibility_timeout,
    visibility_timeout,
    visibility_warning,
)
from workers.errors import SettingsError
from workers.settings import Settings, get_settings


@pytest.mark.parametrize("variable", [
    "LLM_ROUTER_REQUEST_TIMEOUT", "LLM_ROUTER_RETRY_BASE", "LLM_ROUTER_RETRY_MAX",
    "LLM_ROUTER_SIMULATED_LATENCY", "LLM_ROUTER_CONFIG_POLL_SECONDS"])
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-inf"])
def test_a_non_finite_duration_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as refused:
            get_settings()
    finally:
        monkeypatch.delenv(variable)
        get_settings.cache_clear()
    assert refused.value.variables == [variable]
    assert str(refused.value).startswith(f"{variable}={value!r}: ")
    assert "finite number" in str(refused.value) or "greater than" in str(refused.value)


def test_a_request_timeout_over_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="less than or equal to 86400"):
        Settings(LLM_ROUTER_REQUEST_TIMEOUT="86401")
    assert Settings(LLM_ROUTER_REQUEST_TIMEOUT="86400").request_timeout == 86400


def test_the_visibility_timeout_warning_names_the_variable_and_the_minimum() -> None:
    config = default_config()
    # (explicit values: the environment of the test session sets some of these)
    shipped = {"LLM_ROUTER_BROKER_URL": "redis://127.0.0.1:6379/0", "LLM_ROUTER_RETRY_MAX": 60,
               "LLM_ROUTER_VISIBILITY_TIMEOUT": 0}
    settings = Settings(**shipped)
    longest = max(t.task_timeout_seconds for t in config.tiers.values())
    minimum = minimum_visibility_timeout(settings, config)
    assert minimum == longest + settings.retry_max_delay + VISIBILITY_MARGIN_SECONDS == 660
    # Derived (unset) or at least the minimum: nothing to say
    assert visibility_warning(settings, config, visibility_timeout(settings, config)) is None
    ok = Settings(**{**shipped, "LLM_ROUTER_VISIBILITY_TIMEOUT": 660})
    assert visibility_warning(ok, config, 660) is None
    # Below it
    low = Settings(**{**shipped, "LLM_ROUTER_VISIBILITY_TIMEOUT": 1})
    assert visibility_warning(low, config, 1) == (
        "LLM_ROUTER_VISIBILITY_TIMEOUT=1 is below the derived minimum of 660 s (the longest "
        "tier task_timeout_seconds 300 + LLM_ROUTER_RETRY_MAX 60 + 300 s margin): a task "
        "running longer than 1 s is delivered again while it still runs; raise it to at "
        "least 660 or unset it to derive it")
    # RabbitMQ has no visibility timeout
    amqp = Settings(**{**shipped, "LLM_ROUTER_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
                       "LLM_ROUTER_VISIBILITY_TIMEOUT": 1})
    assert visibility_warning(amqp, config, 1) is None
    # A live config with longer tasks than the shipped one (from which the derived value
    # is computed) needs a longer timeout, said with the variable to set
    doc = copy.deepcopy(default_document())
    doc["tiers"]["opus"]["task_timeout_seconds"] = 3600
    longer = load_config(doc)
    derived = visibility_timeout(settings, config)
    assert visibility_warning(settings, longer, derived) == (
        "the visibility timeout derived from the shipped config, 660 s, is below the 3960 s "
        "the routing config in Redis needs (the longest tier task_timeout_seconds 3600 + "
        "LLM_ROUTER_RETRY_MAX 60 + 300 s margin); set LLM_ROUTER_VISIBILITY_TIMEOUT=3960 for "
        "every worker and producer")


@pytest.mark.one_broker  # the visibility timeout is the Redis broker's (RabbitMQ has none)
def test_a_worker_with_a_short_visibility_timeout_warns_at_start(celery: Session) -> None:
    prefix = f"{celery.namespace}:vis-{uuid.uuid4().hex[:6]}:"
    env = {**celery.env, "LLM_ROUTER_BROKER_PREFIX": prefix}
    short = WorkerProcess(env, ALL_QUEUES, "vis-short",
                          extra_env={"LLM_ROUTER_VISIBILITY_TIMEOUT": "1"})
    derived = WorkerProcess(env, ALL_QUEUES, "vis-derived")
    try:
        short.wait_ready()
        derived.wait_ready()
    finally:
        short.stop()
        derived.stop()
    # The session's config: longest tier task 300 s, LLM_ROUTER_RETRY_MAX 5
    warnings = [line for line in short.output().splitlines() if "VISIBILITY_TIMEOUT" in line]
    assert len(warnings) == 1, short.output()[-3000:]
    assert "WARNING" in warnings[0]
    assert ("LLM_ROUTER_VISIBILITY_TIMEOUT=1 is below the derived minimum of 605 s"
            in warnings[0])
    assert "VISIBILITY_TIMEOUT" not in derived.output()
