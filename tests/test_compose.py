"""docker-compose.yml against the default routing config (there is no Docker engine here).

The file checks always run; `docker-compose config -q` runs too whenever the binary exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from routing.config.defaults import default_config
from routing.config.models import RoutingConfig
from workers.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
REDIS_URL = "redis://redis:6379/0"
BROKER_URL = "${LLM_ROUTER_BROKER_URL:-redis://redis:6379/0}"
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|AUTH)$")
PROVIDER_KEYS = {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MOONSHOT_API_KEY", "GEMINI_API_KEY"}


def _load() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text("utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    svcs = _load()["services"]
    assert isinstance(svcs, dict)
    return svcs


@pytest.fixture(scope="module")
def config() -> RoutingConfig:
    return default_config()


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return [str(part) for part in (cmd if isinstance(cmd, list) else str(cmd).split())]


def _option(cmd: list[str], name: str) -> str | None:
    for i, part in enumerate(cmd):
        if part == name and i + 1 < len(cmd):
            return cmd[i + 1]
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    return None


def _workers(services: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """tier -> (service name, service) for every `llm-router worker` service."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, svc in services.items():
        cmd = _command(svc)
        if cmd[:2] == ["llm-router", "worker"]:
            tier = _option(cmd, "--tier")
            assert tier is not None, f"service {name}: worker command without --tier"
            assert tier not in found, f"tier {tier} has two services: {found[tier][0]}, {name}"
            found[tier] = (name, svc)
    return found


def _env_names(settings_field: str) -> list[str]:
    alias = Settings.model_fields[settings_field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    assert isinstance(alias, str)
    return [alias]


def _settings_env() -> list[str]:
    """The primary environment variable of every Settings field."""
    return [_env_names(field)[0] for field in Settings.model_fields]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert match, f"unsupported duration {value!r}"
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    return float(match.group(1)) * scale


def test_every_tier_queue_has_a_worker_service(
    services: dict[str, dict[str, Any]], config: RoutingConfig
) -> None:
    workers = _workers(services)
    missing = {tier.queue for name, tier in config.tiers.items() if name not in workers}
    assert not missing, f"queues without a worker service: {sorted(missing)}"


def test_every_worker_command_names_an_existing_tier(
    services: dict[str, dict[str, Any]], config: RoutingConfig
) -> None:
    workers = _workers(services)
    assert workers, "no `llm-router worker` service in docker-compose.yml"
    unknown = {svc: tier for tier, (svc, _) in workers.items() if tier not in config.tiers}
    assert not unknown, f"worker services naming unknown tiers: {unknown}"


def test_worker_profiles_match_the_routing_config(
    services: dict[str, dict[str, Any]], config: RoutingConfig
) -> None:
    for tier_name, (svc_name, svc) in _workers(services).items():
        tier = config.tiers[tier_name]
        cmd = _command(svc)
        # The worker takes its profile from the stored config; no override may hide it.
        for option in ("--concurrency", "-c", "--prefetch-multiplier", "--pool", "-P",
                       "--queues", "-Q"):
            assert _option(cmd, option) is None, f"{svc_name}: {option} overrides the profile"
        labels = svc["labels"]
        assert labels["llm-router.tier"] == tier_name, svc_name
        assert labels["llm-router.concurrency"] == str(tier.concurrency), svc_name
        assert labels["llm-router.prefetch"] == str(tier.prefetch), svc_name
        assert svc["deploy"]["replicas"] == tier.replicas, svc_name
        grace = _seconds(str(svc["stop_grace_period"]))
        assert grace >= tier.task_timeout_seconds, f"{svc_name}: stop_grace_period < timeout"
        depends = svc["depends_on"]
        assert depends["config-init"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    # The shape the issue asks for: Haiku wide, Opus few.
    workers = _workers(services)
    haiku, opus = workers["haiku"][1], workers["opus"][1]
    assert haiku["deploy"]["replicas"] > 1
    assert opus["deploy"]["replicas"] == 1
    assert config.tiers["haiku"].concurrency > config.tiers["opus"].concurrency
    assert int(haiku["labels"]["llm-router.concurrency"]) > int(
        opus["labels"]["llm-router.concurrency"]
    )


def test_the_default_queue_has_a_dispatching_worker(
    services: dict[str, dict[str, Any]], config: RoutingConfig
) -> None:
    # Producers that do not import the project send to Celery's default queue; a tier
    # with `dispatch: true` consumes it and forwards each task to its tier's queue.
    dispatching = [name for name, tier in config.tiers.items() if tier.dispatch]
    assert dispatching, "no tier dispatches Celery's default queue"
    assert set(dispatching) <= set(_workers(services))


def test_config_init_is_a_one_shot_service(services: dict[str, dict[str, Any]]) -> None:
    svc = services["config-init"]
    assert "llm-router config init" in " ".join(_command(svc))
    assert svc["restart"] == "no"


def test_beat_runs_redbeat_replicas_with_one_lock(
    services: dict[str, dict[str, Any]],
) -> None:
    beats = {n: s for n, s in services.items() if "beat" in _command(s)}
    assert list(beats) == ["beat"], f"exactly one Beat service expected, got {list(beats)}"
    beat = beats["beat"]
    cmd = _command(beat)
    assert cmd[:4] == ["celery", "-A", "workers.app", "beat"]
    # The scheduler (celery-redbeat), its Redis, keys and lock come from the Celery config
    # (tests/test_beat.py, tests/test_beat_lock.py); nothing here may override them.
    for option in ("-S", "--scheduler", "--schedule", "-s", "--max-interval"):
        assert _option(cmd, option) is None, f"beat: {option} overrides the redbeat config"
    # Replicas are safe with the lock: the standby takes over when the running one dies.
    assert beat["deploy"]["replicas"] == 2
    assert "volumes" not in beat, "redbeat keeps Beat's state in Redis, not in a file"
    assert "LLM_ROUTER_BEAT_LOCK_TIMEOUT" in beat["environment"]
    assert "beat-data" not in (_load().get("volumes") or {})


def test_flower_has_basic_auth_from_env_persistence_and_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    flower = services["flower"]
    env = flower["environment"]
    assert "FLOWER_BASIC_AUTH" in env and env["FLOWER_BASIC_AUTH"] is None, (
        "FLOWER_BASIC_AUTH must come from the environment (.env), never from the file"
    )
    text = " ".join(_command(flower))
    # `llm-router flower`: refuses to start without FLOWER_BASIC_AUTH (tests/test_flower.py)
    # and shows model key, model and cost on the task list, as the README says
    assert text.startswith("llm-router flower")
    assert "--persistent=True" in text and "--db=/data/flower.db" in text
    assert "llm-router flower" in (ROOT / "README.md").read_text("utf-8")
    assert any(str(v).endswith(":/data") for v in flower["volumes"])
    assert any("/healthcheck" in str(part) for part in flower["healthcheck"]["test"])
    assert not PROVIDER_KEYS & set(env), "provider keys must not reach Flower"


def test_redis_is_append_only_with_a_volume_and_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    redis = services["redis"]
    assert str(redis["image"]).startswith("redis:7")
    assert _option(_command(redis), "--appendonly") == "yes"
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_metrics_endpoint_is_exposed(services: dict[str, dict[str, Any]]) -> None:
    metrics = services["metrics"]
    cmd = _command(metrics)
    assert cmd[:2] == ["llm-router", "metrics"]
    port = _option(cmd, "--port")
    assert port is not None
    assert any(str(p).endswith(f":{port}") for p in metrics["ports"])


def _app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services running the llm-router image (not Redis, Prometheus or Grafana)."""
    return {n: s for n, s in services.items() if s.get("image") == "llm-router:latest"}


def test_every_app_service_uses_the_compose_redis(services: dict[str, dict[str, Any]]) -> None:
    apps = _app_services(services)
    assert set(apps) >= {"config-init", "beat", "flower", "metrics", "worker-haiku"}
    for name, svc in apps.items():
        env = svc["environment"]
        for var in ("LLM_ROUTER_REDIS_URL", "LLM_ROUTER_RESULT_BACKEND"):
            assert env[var] == REDIS_URL, f"{name}: {var}"
        # the broker too, unless .env names another (the rabbitmq profile's)
        assert env["LLM_ROUTER_BROKER_URL"] == BROKER_URL, name


def test_the_rabbitmq_profile_runs_rabbitmq_for_the_workers_that_point_at_it(
    services: dict[str, dict[str, Any]],
) -> None:
    rabbit = services["rabbitmq"]
    # Off unless asked for; with the management API (Flower's broker page, the UI)
    assert rabbit["profiles"] == ["rabbitmq"]
    assert str(rabbit["image"]).startswith("rabbitmq:3-management")
    assert "rabbitmq-diagnostics" in rabbit["healthcheck"]["test"]
    assert any(str(v).endswith(":/var/lib/rabbitmq") for v in rabbit["volumes"])
    assert rabbit["hostname"] == "rabbitmq"  # its data lives under its node name
    # Credentials from .env only (RabbitMQ's guest may not connect from another container)
    assert rabbit["environment"] == {"RABBITMQ_DEFAULT_USER": None, "RABBITMQ_DEFAULT_PASS": None}
    assert services["flower"]["environment"]["FLOWER_BROKER_API"] is None
    # The app services reach it by the URL .env gives: the compose file names no credential
    text = COMPOSE.read_text("utf-8")
    assert not re.search(r"amqp://[^\s]*@", text.split("services:", 1)[1])
    # Every profile of the file is valid (docker-compose resolves the broker URL from .env)
    binary = shutil.which("docker-compose")
    if binary is not None:
        url = "amqp://llmr:pw@rabbitmq:5672//"
        proc = subprocess.run(
            [binary, "-f", str(COMPOSE), "--profile", "rabbitmq", "config"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "LLM_ROUTER_BROKER_URL": url},
        )
        assert proc.returncode == 0, proc.stderr
        resolved = yaml.safe_load(proc.stdout)["services"]
        assert "rabbitmq" in resolved
        for name in _app_services(services):
            assert resolved[name]["environment"]["LLM_ROUTER_BROKER_URL"] == url, name


def test_workers_receive_every_setting_and_only_workers_get_keys(
    services: dict[str, dict[str, Any]],
) -> None:
    wanted = set(_settings_env())
    for tier, (name, svc) in _workers(services).items():
        missing = wanted - set(svc["environment"])
        assert not missing, f"{name} ({tier}) does not pass {sorted(missing)} through"
    for name, svc in services.items():
        if name in {n for n, _ in _workers(services).values()}:
            continue
        leaked = PROVIDER_KEYS & set(svc.get("environment") or {})
        assert not leaked, f"{name} gets provider keys {sorted(leaked)}"


def test_no_secret_value_is_committed(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for var, value in (svc.get("environment") or {}).items():
            if SECRET_NAME.search(var):
                assert value is None, f"{name}: {var} has a value in the file; use .env"
    text = COMPOSE.read_text("utf-8")
    patterns = [r"sk-[A-Za-z0-9_\-]{16,}", r"AIza[0-9A-Za-z_\-]{20,}", r"[a-z]+:[^@\s/]+@redis"]
    for pattern in patterns:
        assert not re.search(pattern, text), f"something secret-looking matches {pattern}"


def test_env_example_documents_every_variable_with_empty_values() -> None:
    example = ROOT / ".env.example"
    values: dict[str, str] = {}
    for line in example.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            var, _, value = line.partition("=")
            values[var.strip()] = value.strip()
    wanted = {*_settings_env(), "FLOWER_BASIC_AUTH", "GF_SECURITY_ADMIN_PASSWORD"}
    assert not wanted - set(values), f".env.example misses {sorted(wanted - set(values))}"
    filled = {var for var, value in values.items() if value}
    assert not filled, f".env.example must not carry values: {sorted(filled)}"
    ignored = (ROOT / ".gitignore").read_text("utf-8").split()
    assert ".env" in ignored
    assert ".env" in (ROOT / ".dockerignore").read_text("utf-8").split()


def test_dockerfile_runs_as_non_root_and_installs_the_project() -> None:
    text = (ROOT / "Dockerfile").read_text("utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^USER (?!root\b)\S+", text, re.M)
    # The image installs the locked runtime versions, then the project without resolving
    assert "pip install --require-hashes --no-deps -r requirements/runtime.lock" in text
    assert "pip install --no-deps --no-build-isolation ." in text
    # Every package the project installs is in the image (the CLI runs every service)
    copied = set(re.findall(r"^COPY (\S+) \./\1$", text, re.M))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"][
        "include"]}
    assert packages == {"routing", "tasks", "workers", "cli"}
    assert packages <= copied, f"the image lacks {sorted(packages - copied)}"
    assert not re.search(r"^(ENV|ARG)\s.*(API_KEY|BASIC_AUTH)", text, re.M)


def _locked(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text("utf-8")
    return dict(re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", text, re.M))


def test_the_image_lock_is_the_dev_lock_without_the_dev_extra() -> None:
    """scripts/lock.sh writes both from one resolution: the image runs what CI tested."""
    dev, runtime = _locked("dev.lock"), _locked("runtime.lock")
    assert runtime, "requirements/runtime.lock is empty"
    differ = {name: (version, dev.get(name)) for name, version in runtime.items()
              if dev.get(name) != version}
    assert not differ, f"runtime.lock and dev.lock disagree (run scripts/lock.sh): {differ}"
    for dev_only in ("pytest", "mypy", "ruff", "mkdocs-material"):
        assert dev_only not in runtime, f"the image would install {dev_only}"
    for needed in ("celery", "kombu", "redis", "anthropic", "openai", "genai-prices"):
        assert needed in runtime, f"runtime.lock lacks {needed}"


def test_docker_compose_config_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose); "
                    "the file checks above still ran")
    proc = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, f"docker-compose config -q failed:\n{proc.stderr}"


def test_config_init_and_worker_commands_run_against_redis(
    services: dict[str, dict[str, Any]], config: RoutingConfig, env: dict[str, str]
) -> None:
    """The services' commands as the image runs them: config-init is idempotent (a second
    `up` keeps the live config) and each worker command starts its tier's profile."""
    bin_dir = str(Path(sys.executable).parent)
    run_env = {**os.environ, **env, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=ROOT, env=run_env, capture_output=True, text=True,
                              timeout=60, check=False)

    init = _command(services["config-init"])
    for _ in range(2):
        proc = run(init)
        assert proc.returncode == 0, proc.stderr
    for tier_name, (svc_name, svc) in _workers(services).items():
        proc = run([*_command(svc), "--dry-run"])
        assert proc.returncode == 0, f"{svc_name}: {proc.stderr}"
        argv = proc.stdout.split()
        tier = config.tiers[tier_name]
        assert tier.queue in (_option(argv, "--queues") or "").split(","), svc_name
        assert _option(argv, "--concurrency") == str(tier.concurrency), svc_name
        assert _option(argv, "--prefetch-multiplier") == str(tier.prefetch), svc_name
