"""`kustomize build` for the subset deploy/k8s uses, in Python (CI has no kustomize binary):
a kustomization's `resources` (files, or directories holding a kustomization) in order,
then its `patches` (JSON 6902 operations on one target each). Anything else in a
kustomization (a transformer, a generator) is refused, so that the rendering never
silently differs from what kustomize would build. tests/test_k8s.py compares the result
with `kubectl kustomize` where that binary exists.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "patches"}


def build(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization directory renders to."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text("utf-8"))
    unknown = set(spec) - KNOWN
    assert not unknown, f"{directory}: kustomization fields this renderer lacks: {unknown}"
    docs: list[dict[str, Any]] = []
    for resource in spec.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            docs += build(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
    for patch in spec.get("patches", []):
        ops = yaml.safe_load(patch["patch"] if "patch" in patch
                             else (directory / patch["path"]).read_text("utf-8"))
        target = patch["target"]
        matches = [d for d in docs if d["kind"] == target["kind"]
                   and d["metadata"]["name"] == target["name"]]
        assert len(matches) == 1, f"patch target {target} matches {len(matches)} objects"
        for op in ops:
            apply_operation(matches[0], op)
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), f"{directory}: an object is defined twice"
    return docs


def _pointer(path: str) -> list[str]:
    assert path.startswith("/"), f"JSON pointer expected, got {path!r}"
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_operation(doc: dict[str, Any], op: dict[str, Any]) -> None:
    """One RFC 6902 operation (add, remove, replace) on `doc`, in place."""
    *parents, last = _pointer(op["path"])
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    kind = op["op"]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if kind == "add":
            node.insert(index, copy.deepcopy(op["value"]))
        elif kind == "replace":
            node[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[index]
        else:
            raise AssertionError(f"unsupported patch operation {kind!r}")
        return
    if kind in ("add", "replace"):
        assert kind == "add" or last in node, f"replace of a missing {op['path']}"
        node[last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        del node[last]
    else:
        raise AssertionError(f"unsupported patch operation {kind!r}")
