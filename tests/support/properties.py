"""Settings of the property-based tests (hypothesis): a bounded number of examples, no
deadline (a shared CI machine is slow at times), and derandomized, so a run tests the same
examples every time and cannot flake. `LLM_ROUTER_TEST_EXPLORE=1` draws new random
examples instead (to look for new failures locally; a failure prints its example)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXPLORE = os.environ.get("LLM_ROUTER_TEST_EXPLORE") == "1"


def bounded(max_examples: int = 200) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=not EXPLORE,
        database=None,
        # Examples share a test's Redis namespace and CLI environment on purpose: each
        # writes a whole config, so none depends on what another left.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
