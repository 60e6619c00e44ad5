"""Prometheus and Grafana in docker-compose.yml, against the files in deploy/ they mount.

There is no Docker engine here: these read the compose file and the provisioning files;
`docker-compose config -q` (tests/test_compose.py, .ci/run) validates the compose file, and
tests/test_dashboard.py checks the dashboard's queries against what the endpoint exports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_KEYS = {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MOONSHOT_API_KEY", "GEMINI_API_KEY",
                 "GOOGLE_API_KEY"}
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    svcs: dict[str, dict[str, Any]] = _yaml(ROOT / "docker-compose.yml")["services"]
    return svcs


def _mounts(svc: dict[str, Any]) -> dict[str, tuple[Path, str]]:
    """container path -> (host path, mode) of the service's bind mounts."""
    out = {}
    for volume in svc.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        if source.startswith("./"):
            out[target] = (ROOT / source, mode[0] if mode else "rw")
    return out


def _option(cmd: list[str], name: str) -> str | None:
    return next((c.split("=", 1)[1] for c in cmd if c.startswith(name + "=")), None)


def test_official_images_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, repo in (("prometheus", "prom/prometheus"), ("grafana", "grafana/grafana")):
        svc = services[name]
        assert "build" not in svc, name
        image, _, tag = str(svc["image"]).partition(":")
        assert image == repo, f"{name}: {svc['image']} is not the official image"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin a version, not {tag!r}"


def test_no_provider_key_nor_the_env_file_reaches_them(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("prometheus", "grafana"):
        svc = services[name]
        assert "env_file" not in svc, f"{name}: env_file would hand it every key in .env"
        env = set(svc.get("environment") or {})
        assert not env & PROVIDER_KEYS, f"{name} gets {sorted(env & PROVIDER_KEYS)}"
        assert not [v for v in env if v.startswith("LLM_ROUTER_")], name


def test_grafana_password_comes_from_the_env_file_and_is_required(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    env = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" in env and env["GF_SECURITY_ADMIN_PASSWORD"] is None
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    script = " ".join(grafana["entrypoint"])
    assert 'test -n "$${GF_SECURITY_ADMIN_PASSWORD}"' in script and "exit 1" in script
    assert script.rstrip().endswith("exec /run.sh"), "the image's own entrypoint must run"
    assert all(str(p).startswith("127.0.0.1:") for p in grafana["ports"])
    assert all(str(p).startswith("127.0.0.1:") for p in services["prometheus"]["ports"])


def test_provisioning_files_exist_and_are_mounted_read_only(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("prometheus", "grafana"):
        mounts = _mounts(services[name])
        assert mounts, f"{name} mounts nothing from deploy/"
        for target, (source, mode) in mounts.items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            assert mode == "ro", f"{name}: {target} must be mounted read-only"
    grafana = _mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"][0] == PROVISIONING
    providers = _yaml(PROVISIONING / "dashboards" / "llm-router.yml")["providers"]
    for provider in providers:
        folder = provider["options"]["path"]
        assert folder in grafana, f"provider path {folder} is not mounted"
        assert list(grafana[folder][0].glob("*.json")), f"no dashboard in {grafana[folder][0]}"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    folder, _, file = home.rpartition("/")
    assert (grafana[folder][0] / file).is_file(), home


def test_prometheus_scrapes_the_metrics_service_port(
    services: dict[str, dict[str, Any]],
) -> None:
    prometheus = services["prometheus"]
    config_path = _option(prometheus["command"], "--config.file")
    assert config_path is not None
    source, _ = _mounts(prometheus)[config_path]
    config = _yaml(source)
    metrics_cmd = [str(c) for c in services["metrics"]["command"]]
    port = metrics_cmd[metrics_cmd.index("--port") + 1]
    assert metrics_cmd[:2] == ["llm-router", "metrics"]
    assert metrics_cmd[metrics_cmd.index("--host") + 1] == "0.0.0.0"
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]
    assert targets == [f"metrics:{port}"], "one target: the deployment's metrics service"
    assert all(job.get("metrics_path", "/metrics") == "/metrics"
               for job in config["scrape_configs"])
    assert prometheus["depends_on"]["metrics"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_grafana_datasource_is_the_compose_prometheus(
    services: dict[str, dict[str, Any]],
) -> None:
    sources = _yaml(PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    assert len(sources) == 1
    source = sources[0]
    port = str(services["prometheus"]["ports"][0]).rsplit(":", 1)[1]
    assert (source["type"], source["url"]) == ("prometheus", f"http://prometheus:{port}")
    scrape = _yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")["global"]
    assert source["jsonData"]["timeInterval"] == scrape["scrape_interval"]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/llm-router.json").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert uids == {source["uid"]}
