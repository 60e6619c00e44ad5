"""deploy/k8s against the shipped routing config and docker-compose.yml: the same tiers,
queues, profiles, commands and environment; secrets only where allowed; KEDA scaling each
tier on its own queue with bounds derived from its profile; and the workers' liveness
probe, run for real against a worker started with its Deployment's command."""

from __future__ import annotations

import ast
import functools
import math
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from routing.config.defaults import default_config
from routing.config.models import RoutingConfig
from routing.config.store import ConfigStore
from tests.support.kustomize import build
from tests.support.properties import bounded
from tests.support.wait import wait_until
from workers.contract import DEFAULT_QUEUE

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy/k8s/base"
RABBITMQ = ROOT / "deploy/k8s/overlays/rabbitmq"
REDIS_AUTH = ROOT / "deploy/k8s/overlays/redis-auth"
# Deployment decisions (docs/kubernetes.md), derived from each tier's profile:
GRACE_MARGIN_SECONDS = 30  # terminationGracePeriodSeconds = task timeout + this
AUTOSCALE_FACTOR = 4  # maxReplicaCount = the profile's replicas x this
PROVIDER_KEYS = {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MOONSHOT_API_KEY", "GEMINI_API_KEY"}
# Besides the provider keys, only workers get these secrets (route headers; cost reconcile)
WORKER_SECRETS = {"LLM_ROUTER_HEADER_KEYS", "ANTHROPIC_ADMIN_KEY", "OPENAI_ADMIN_KEY"}
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|AUTH)$")
PROVIDER_SECRET, FLOWER_SECRET, CONNECTION_SECRET = (
    "llm-router-provider-keys", "llm-router-flower", "llm-router-connection")
PROFILE_OPTIONS = ("--concurrency", "-c", "--prefetch-multiplier", "--pool", "-P",
                   "--queues", "-Q")
# compose service -> (kind, name) of its Kubernetes counterpart, besides the workers
COUNTERPARTS = {"beat": ("Deployment", "beat"), "flower": ("Deployment", "flower"),
                "metrics": ("Deployment", "metrics"), "config-init": ("Job", "config-init"),
                "redis": ("StatefulSet", "redis")}


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in build(BASE)}


@pytest.fixture(scope="module")
def compose() -> dict[str, dict[str, Any]]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))["services"]
    assert isinstance(services, dict)
    return services


@pytest.fixture(scope="module")
def config() -> RoutingConfig:
    return default_config()


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def container(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod(doc)["containers"]
    return dict(only)


def workloads(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: d for (kind, name), d in objects.items()
            if kind in ("Deployment", "StatefulSet", "Job")}


def env_names(doc: dict[str, Any], objects: dict[tuple[str, str], dict[str, Any]]) -> set[str]:
    """The variables a workload's container gets: ConfigMap keys and explicit entries (the
    optional connection Secret only overrides ConfigMap keys; checked apart)."""
    box = container(doc)
    names = {e["name"] for e in box.get("env", [])}
    for source in box.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    return names


def secrets_used(doc: dict[str, Any]) -> set[str]:
    spec = pod(doc)
    used = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    for box in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        used |= {s["secretRef"]["name"] for s in box.get("envFrom", []) if "secretRef" in s}
        used |= {e["valueFrom"]["secretKeyRef"]["name"] for e in box.get("env", [])
                 if "secretKeyRef" in e.get("valueFrom", {})}
    return used


def compose_command(service: dict[str, Any]) -> list[str]:
    return [str(part) for part in service["command"]]


def test_one_worker_deployment_per_tier_runs_its_profile(
    objects: dict[tuple[str, str], dict[str, Any]], compose: dict[str, dict[str, Any]],
    config: RoutingConfig,
) -> None:
    workers = {name for (kind, name), d in objects.items() if kind == "Deployment"
               and d["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"}
    assert workers == {f"worker-{tier}" for tier in config.tiers}
    for tier_name, tier in config.tiers.items():
        doc = objects[("Deployment", f"worker-{tier_name}")]
        cmd = container(doc)["command"]
        # the worker takes pool, concurrency and prefetch from the stored config, as the
        # compose service does: the same command, no option overriding the profile
        assert cmd == ["llm-router", "worker", "--tier", tier_name, "--loglevel", "INFO"]
        assert cmd == compose_command(compose[f"worker-{tier_name}"])
        assert not set(cmd) & set(PROFILE_OPTIONS), cmd
        expected = {"llm-router/tier": tier_name, "llm-router/queue": tier.queue,
                    "llm-router/pool": str(tier.pool), "llm-router/concurrency":
                    str(tier.concurrency), "llm-router/prefetch": str(tier.prefetch)}
        if tier.dispatch:
            expected["llm-router/dispatch"] = "true"
        for labels in (doc["metadata"]["labels"], doc["spec"]["template"]["metadata"]["labels"]):
            restated = {k: v for k, v in labels.items() if k.startswith("llm-router/")}
            assert restated == expected, doc["metadata"]["name"]
        assert compose[f"worker-{tier_name}"]["labels"]["llm-router.concurrency"] == str(
            tier.concurrency)
        # KEDA owns the replica count
        assert "replicas" not in doc["spec"], f"worker-{tier_name}: replicas fights KEDA"
        grace = pod(doc)["terminationGracePeriodSeconds"]
        assert grace == tier.task_timeout_seconds + GRACE_MARGIN_SECONDS, tier_name


def _redis_address(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}", (parts.path.strip("/") or "0")


def test_each_tier_scales_on_its_own_queue_within_bounds_from_its_profile(
    objects: dict[tuple[str, str], dict[str, Any]], config: RoutingConfig,
) -> None:
    env = objects[("ConfigMap", "llm-router-env")]["data"]
    prefix = env["LLM_ROUTER_BROKER_PREFIX"]
    address, database = _redis_address(env["LLM_ROUTER_BROKER_URL"])
    scaled = {name: d for (kind, name), d in objects.items() if kind == "ScaledObject"}
    assert set(scaled) == {f"worker-{tier}" for tier in config.tiers}
    for tier_name, tier in config.tiers.items():
        spec = scaled[f"worker-{tier_name}"]["spec"]
        assert spec["scaleTargetRef"] == {"name": f"worker-{tier_name}"}  # a Deployment
        queues = {tier.queue, DEFAULT_QUEUE} if tier.dispatch else {tier.queue}
        lists = {}
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "redis"
            # kombu's list of the queue, behind the broker's key prefix, on the broker
            assert (meta["address"], meta["databaseIndex"]) == (address, database)
            lists[meta["listName"]] = meta["listLength"]
        assert lists == {prefix + q: str(tier.concurrency) for q in queues}, tier_name
        assert spec["minReplicaCount"] == 1
        assert spec["maxReplicaCount"] == tier.replicas * AUTOSCALE_FACTOR, tier_name
    # Haiku runs wide, Opus few
    assert scaled["worker-haiku"]["spec"]["maxReplicaCount"] > 3 * scaled[
        "worker-opus"]["spec"]["maxReplicaCount"]


def _formula_value(formula: str, values: dict[str, float]) -> float:
    """KEDA's scaling-modifier formula over the triggers' metrics, for the sums and
    constants it is written with here (any other expression is refused)."""
    def value(node: ast.expr) -> float:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return value(node.left) + value(node.right)
        if isinstance(node, ast.Name):
            assert node.id in values, f"formula names {node.id}, not a trigger"
            return values[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        raise AssertionError(f"formula {formula!r}: {ast.dump(node)} not modelled")
    tree = ast.parse(formula, mode="eval")
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert used == set(values), f"formula {formula!r} leaves out {set(values) - used}"
    return value(tree.body)


def desired_replicas(spec: dict[str, Any], waiting: dict[str, int], prefix: str = "") -> int:
    """The replicas KEDA's HPA asks for with `waiting` messages per queue: each trigger's
    metric is its queue's length; with a scaling-modifier formula, the HPA gets that one
    composed metric against its target, otherwise one metric per trigger and it follows the
    largest (AverageValue: ceil(metric / target) replicas), within the replica bounds."""
    lengths: dict[str, tuple[float, float]] = {}  # trigger name -> (metric, its target)
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        queue = meta.get("queueName") or meta["listName"].removeprefix(prefix)
        target = float(meta.get("value") or meta["listLength"])
        lengths[trigger["name"]] = (float(waiting[queue]), target)
    modifiers = spec.get("advanced", {}).get("scalingModifiers")
    if modifiers is not None:
        metric = _formula_value(modifiers["formula"], {k: v for k, (v, _) in lengths.items()})
        wanted = math.ceil(metric / float(modifiers["target"]))
    else:
        wanted = max(math.ceil(v / t) for v, t in lengths.values())
    return int(min(max(wanted, spec["minReplicaCount"]), spec["maxReplicaCount"]))


@functools.cache
def _built(tree: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in build(tree)}


@bounded(100)
@given(tier_depth=st.integers(0, 2000), default_depth=st.integers(0, 2000))
def test_a_tier_scales_on_all_the_work_waiting_for_it_its_queues_summed(
    tier_depth: int, default_depth: int
) -> None:
    # The dispatch tier's workers drain two queues: with 32 tasks in each and 32 threads a
    # pod, two pods are due, not the one the larger queue alone asks for.
    config = default_config()
    for tree in (BASE, RABBITMQ, REDIS_AUTH):
        docs = _built(tree)
        prefix = docs[("ConfigMap", "llm-router-env")]["data"]["LLM_ROUTER_BROKER_PREFIX"]
        for tier_name, tier in config.tiers.items():
            spec = docs[("ScaledObject", f"worker-{tier_name}")]["spec"]
            waiting = {q.queue: 0 for q in config.tiers.values()}
            waiting[tier.queue] = tier_depth
            waiting[DEFAULT_QUEUE] = default_depth
            total = tier_depth + (default_depth if tier.dispatch else 0)
            expected = min(max(math.ceil(total / tier.concurrency), spec["minReplicaCount"]),
                           spec["maxReplicaCount"])
            assert desired_replicas(spec, waiting, prefix) == expected, (tree.name, tier_name)


def test_the_rabbitmq_overlay_scales_on_the_same_queues(config: RoutingConfig) -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in build(RABBITMQ)}
    auth = docs[("TriggerAuthentication", "llm-router-rabbitmq")]["spec"]["secretTargetRef"]
    assert auth == [{"parameter": "host", "name": CONNECTION_SECRET,
                     "key": "LLM_ROUTER_BROKER_URL"}]
    for tier_name, tier in config.tiers.items():
        triggers = docs[("ScaledObject", f"worker-{tier_name}")]["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"rabbitmq"}
        assert {t["authenticationRef"]["name"] for t in triggers} == {"llm-router-rabbitmq"}
        queues = {tier.queue, DEFAULT_QUEUE} if tier.dispatch else {tier.queue}
        assert {t["metadata"]["queueName"]: t["metadata"]["value"] for t in triggers} == {
            q: str(tier.concurrency) for q in queues}
        assert {t["metadata"]["mode"] for t in triggers} == {"QueueLength"}


def test_the_redis_auth_overlay_scales_on_the_same_lists_with_the_secrets_credentials(
    config: RoutingConfig,
) -> None:
    base = {(d["kind"], d["metadata"]["name"]): d for d in build(BASE)}
    docs = {(d["kind"], d["metadata"]["name"]): d for d in build(REDIS_AUTH)}
    auth = docs[("TriggerAuthentication", "llm-router-redis")]["spec"]["secretTargetRef"]
    assert {(a["parameter"], a["name"], a["key"]) for a in auth} == {
        ("address", CONNECTION_SECRET, "KEDA_REDIS_ADDRESS"),
        ("password", CONNECTION_SECRET, "KEDA_REDIS_PASSWORD")}
    for tier_name in config.tiers:
        key = ("ScaledObject", f"worker-{tier_name}")
        ours, theirs = docs[key]["spec"]["triggers"], base[key]["spec"]["triggers"]
        assert len(ours) == len(theirs)
        for mine, plain in zip(ours, theirs, strict=True):
            # the same list and target, the address and password from the Secret only
            assert mine["authenticationRef"] == {"name": "llm-router-redis"}
            assert "address" not in mine["metadata"]
            assert mine["metadata"] == {k: v for k, v in plain["metadata"].items()
                                        if k != "address"}
    # everything else is the base
    assert {k: v for k, v in docs.items() if k[0] not in ("ScaledObject",
                                                          "TriggerAuthentication")} == {
        k: v for k, v in base.items() if k[0] != "ScaledObject"}


def test_every_workload_gets_what_its_compose_service_gets(
    objects: dict[tuple[str, str], dict[str, Any]], compose: dict[str, dict[str, Any]],
    config: RoutingConfig,
) -> None:
    pairs = {**{f"worker-{t}": ("Deployment", f"worker-{t}") for t in config.tiers},
             **COUNTERPARTS}
    assert set(workloads(objects)) == {name for _, name in pairs.values()}
    for service, key in pairs.items():
        doc, svc = objects[key], compose[service]
        assert container(doc)["image"] == svc["image"], service
        if service == "redis":
            continue
        assert env_names(doc, objects) == set(svc["environment"]), service
        if service not in ("config-init",) and not service.startswith("worker-"):
            assert container(doc)["command"] == compose_command(svc), service
    assert container(objects[("Job", "config-init")])["command"] == compose_command(
        compose["config-init"])
    assert objects[("Deployment", "beat")]["spec"]["replicas"] == compose["beat"]["deploy"][
        "replicas"] == 2
    # the same Redis for config, ledger, broker and results as compose (a Service named
    # redis), unless a Secret overrides them
    data = objects[("ConfigMap", "llm-router-env")]["data"]
    for var in ("LLM_ROUTER_REDIS_URL", "LLM_ROUTER_BROKER_URL", "LLM_ROUTER_RESULT_BACKEND"):
        # (compose's broker is Redis unless .env names another: `${VAR:-redis://...}`)
        default = re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", compose["beat"]["environment"][var])
        assert data[var] == default, var
    assert ("Service", "redis") in objects


def test_secrets_reach_only_the_pods_that_need_them(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    # no secret is committed: the base only refers to Secrets created apart
    assert not [key for key in objects if key[0] == "Secret"]
    for name, doc in workloads(objects).items():
        used = secrets_used(doc)
        is_worker = name.startswith("worker-")
        assert (PROVIDER_SECRET in used) == is_worker, name
        assert (FLOWER_SECRET in used) == (name == "flower"), name
        assert used <= {PROVIDER_SECRET, FLOWER_SECRET, CONNECTION_SECRET}, name
        box = container(doc)
        for source in box.get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"] == {"name": CONNECTION_SECRET, "optional": True}
        for entry in box.get("env", []):
            assert "value" not in entry or not SECRET_NAME.search(entry["name"]), entry
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["key"] == entry["name"]
                allowed = PROVIDER_KEYS | WORKER_SECRETS if is_worker else {
                    "FLOWER_BASIC_AUTH",
                                                            "FLOWER_BROKER_API"}
                assert entry["name"] in allowed, (name, entry["name"])
        given = env_names(doc, objects)
        assert (given >= PROVIDER_KEYS) == is_worker, name
    for (kind, name), doc in objects.items():
        if kind == "ConfigMap":
            assert not [k for k in doc["data"] if SECRET_NAME.search(k)], name
        if kind in ("Deployment", "StatefulSet", "Job"):
            # nothing here talks to the Kubernetes API: no service account token either
            assert doc["spec"]["template"]["spec"]["automountServiceAccountToken"] is False, name


def test_probes_and_services(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    flower, metrics = container(objects[("Deployment", "flower")]), container(
        objects[("Deployment", "metrics")])
    assert flower["livenessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert metrics["readinessProbe"]["httpGet"]["path"] == "/metrics"
    port = int(metrics["command"][metrics["command"].index("--port") + 1])
    assert metrics["ports"] == [{"name": "metrics", "containerPort": port}]
    service = objects[("Service", "metrics")]["spec"]
    assert service["ports"][0]["targetPort"] == "metrics"
    assert service["selector"] == objects[("Deployment", "metrics")]["spec"]["selector"][
        "matchLabels"]
    assert objects[("Service", "flower")]["spec"]["selector"] == objects[
        ("Deployment", "flower")]["spec"]["selector"]["matchLabels"]
    assert objects[("Job", "config-init")]["spec"]["template"]["spec"]["restartPolicy"] == (
        "OnFailure")


def _probe(doc: dict[str, Any]) -> list[str]:
    command: list[str] = container(doc)["livenessProbe"]["exec"]["command"]
    return command


def test_the_worker_liveness_probe_pings_that_worker(
    objects: dict[tuple[str, str], dict[str, Any]], env: dict[str, str], namespace: str,
    tmp_path: Path,
) -> None:
    """The haiku Deployment's command and probe, run as the pod would run them: the probe
    passes while the worker runs and fails once it has stopped."""
    doc = objects[("Deployment", "worker-haiku")]
    host = socket.gethostname()  # a pod's hostname is its name, as is $HOSTNAME there
    run_env = {**os.environ, **env, "LLM_ROUTER_BROKER_PREFIX": f"{namespace}:broker:",
               "LLM_ROUTER_PROVIDER_MODE": "simulated", "HOSTNAME": host,
               "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    ConfigStore.from_url(env["LLM_ROUTER_REDIS_URL"], namespace).init(author="tests")

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(_probe(doc), cwd=ROOT, env=run_env, capture_output=True,
                              text=True, timeout=60, check=False)

    log = tmp_path / "worker.log"
    with open(log, "w+", encoding="utf-8") as out:
        worker = subprocess.Popen(container(doc)["command"], cwd=ROOT, env=run_env,
                                  stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: " ready." in log.read_text("utf-8") or worker.poll() is not None,
                       timeout=60, what="the worker to start")
            assert worker.poll() is None, log.read_text("utf-8")
            alive = probe()
            assert alive.returncode == 0, (alive.stdout, alive.stderr)
            assert f"haiku@{host}" in alive.stdout + alive.stderr
            # When the worker has stopped (a warm shutdown), the probe fails
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
            dead = probe()
            assert dead.returncode != 0, dead.stdout
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
