"""Flower started against this app the way every Celery user starts it (`celery -A
workers.app flower`, no wrapper) refuses to start without a login, and with one serves
no page (a task's prompt and answer least of all) to an anonymous visitor."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.support.flower import PlainFlower
from workers.flower_login import REFUSED

# Pages that showed every task's prompt and answer to anyone before (issue 21), and the API.
PAGES = ["/", "/tasks", "/tasks/datatable", f"/task/{uuid.uuid4()}", "/workers", "/broker",
         "/api/tasks"]


def _env(redis_url: str) -> dict[str, str]:
    # A broker place of its own: this Flower never sees (or disturbs) another test's tasks.
    return {"LLM_ROUTER_REDIS_URL": redis_url,
            "LLM_ROUTER_BROKER_PREFIX": f"llmr-flower-login-{uuid.uuid4().hex[:6]}:"}


@pytest.mark.parametrize("auth", [None, "", "ops", "ops:", ":pw", "ops:pw,nobody"])
def test_celery_flower_refuses_to_start_without_a_login(redis_url: str,
                                                        auth: str | None) -> None:
    # Given Flower started by Celery's own command, without (valid) credentials
    flower_env = {} if auth is None else {"FLOWER_BASIC_AUTH": auth}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.app", "flower",
         "--address=127.0.0.1", "--port=0"],
        env={**env, **_env(redis_url), **flower_env}, capture_output=True, text=True,
        timeout=60)
    # Then it stops before listening: one line naming the variable, exit 2, no traceback
    assert done.returncode == 2, done.stdout + done.stderr
    assert REFUSED in done.stderr and "Traceback" not in done.stderr
    assert "Visit me" not in done.stdout + done.stderr


@pytest.mark.parametrize("flower_env", [
    {"FLOWER_BASIC_AUTH": "ops:flower-login-pass"},
    {"FLOWER_AUTH": r".*@example\.com",
     "FLOWER_AUTH_PROVIDER": "flower.views.auth.GithubLoginHandler",
     "FLOWER_OAUTH2_KEY": "id", "FLOWER_OAUTH2_SECRET": "secret",
     "FLOWER_OAUTH2_REDIRECT_URI": "http://127.0.0.1/login",
     "FLOWER_COOKIE_SECRET": "a-cookie-secret"},
], ids=["basic-auth", "oauth"])
def test_celery_flower_with_a_login_serves_nothing_anonymously(
    redis_url: str, flower_env: dict[str, str]
) -> None:
    flower = PlainFlower(_env(redis_url), flower_env)
    try:
        flower.wait_ready(60)
        statuses = {page: flower.status(page) for page in PAGES}
    finally:
        flower.stop()
    # 401 (basic auth) or a redirect to the login page (OAuth); never a page
    assert all(status in (401, 302) for status in statuses.values()), statuses
