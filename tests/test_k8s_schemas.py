"""deploy/k8s renders and validates: every object of the base and of the RabbitMQ overlay
against the Kubernetes schemas of pinned versions (kubernetes-validate, strict: unknown
fields refused), KEDA's custom resources against their documented fields
(tests/support/keda.py). The rendering is tests/support/kustomize.py, checked against
`kubectl kustomize` where that binary exists."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.keda import SCHEMAS
from tests.support.kustomize import build

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy/k8s/base"
RABBITMQ = ROOT / "deploy/k8s/overlays/rabbitmq"
REDIS_AUTH = ROOT / "deploy/k8s/overlays/redis-auth"
TREES = {"base": BASE, "rabbitmq": RABBITMQ, "redis-auth": REDIS_AUTH}
# The oldest Kubernetes these manifests claim (the kubectl here is 1.32) and the newest
# schemas kubernetes-validate ships.
K8S_VERSIONS = ("1.32", "1.37")


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def validate(doc: dict[str, Any], version: str) -> None:
    """Raise if `doc` is not a valid object of its kind."""
    if doc["kind"] in SCHEMAS:
        jsonschema.Draft202012Validator(SCHEMAS[doc["kind"]]).validate(doc)
        return
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("tree", sorted(TREES))
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_validates(tree: str, version: str) -> None:
    docs = build(TREES[tree])
    assert len(docs) >= 18
    problems = []
    for doc in docs:
        try:
            validate(doc, version)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{_key(doc)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{_key(doc)}: no schema: {exc.message}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("tree", sorted(TREES))
def test_keda_rules_the_schema_cannot_say(tree: str) -> None:
    for doc in build(TREES[tree]):
        if doc["kind"] != "ScaledObject":
            continue
        spec = doc["spec"]
        assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100), _key(doc)
        names = [t.get("name") for t in spec["triggers"]]
        assert len(names) == len(set(names)), f"{_key(doc)}: trigger names repeat"


def test_the_schemas_are_valid_and_refuse_mistakes() -> None:
    """Neither validator is vacuous: each refuses a plausible mistake."""
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    docs = {_key(d): d for d in build(BASE)}
    haiku_so = docs[("ScaledObject", "worker-haiku")]
    mistakes: list[tuple[dict[str, Any], str]] = []
    for path, value in [
        (("spec", "maxReplicas"), 3),  # not maxReplicaCount
        (("spec", "triggers", 0, "metadata", "listLength"), "many"),
        (("spec", "triggers", 0, "metadata", "address"), "redis://redis:6379"),  # host:port
        (("spec", "triggers", 0, "type"), "rabbitmq"),  # without queueName, mode, value
    ]:
        broken = copy.deepcopy(haiku_so)
        node: Any = broken
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        mistakes.append((broken, str(path)))
    no_list = copy.deepcopy(haiku_so)
    del no_list["spec"]["triggers"][0]["metadata"]["listName"]
    mistakes.append((no_list, "no listName"))
    worker = copy.deepcopy(docs[("Deployment", "worker-haiku")])
    worker["spec"]["template"]["spec"]["terminationGracePeriod"] = 90  # a typo
    mistakes.append((worker, "terminationGracePeriod"))
    job = copy.deepcopy(docs[("Job", "config-init")])
    job["spec"]["template"]["spec"]["restartPolicy"] = 3
    mistakes.append((job, "restartPolicy: 3"))
    for broken, what in mistakes:
        with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
            validate(broken, K8S_VERSIONS[0])
            pytest.fail(f"accepted: {what}")


@pytest.mark.parametrize("tree", sorted(TREES))
def test_the_python_rendering_matches_kubectl_kustomize(tree: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the Python rendering was still validated")
    proc = subprocess.run([kubectl, "kustomize", str(TREES[tree])], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    theirs = {_key(d): d for d in yaml.safe_load_all(proc.stdout) if d}
    ours = {_key(d): d for d in build(TREES[tree])}
    assert ours == theirs
