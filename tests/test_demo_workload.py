"""`llm-router demo --workload FILE`: a file that is not a demo workload is refused as the
demo workload it should be (what was read and what a workload looks like), exit 2, never
as a routing config; and nothing is played."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cli.demo.workload import WORKLOAD, load_workload
from routing.config.defaults import default_document
from routing.errors import ConfigError
from tests.support.cli import run

SHAPE = "a demo workload is a mapping with a `name` and the day's `crons`"


@pytest.mark.parametrize(("content", "says"), [
    ("- a\n- b\n", [f"bad.yaml holds a list: {SHAPE}", "like the shipped cli/demo/workload.yaml"]),
    ("", ["bad.yaml holds no document", "give a demo workload: its `name`"]),
    ("name: x\nadhoc: 5\n", ["adhoc: Input should be a valid list"]),
    ("name: x\nname: y\n", ["duplicate key 'name'"]),
    (yaml.safe_dump(default_document()),
     ["this looks like a routing config (models, model_keys): --workload takes a demo "
      "workload, a mapping with a `name`", "name: Field required"]),
])
def test_a_bad_workload_file_is_refused_as_a_demo_workload(
    tmp_path: Path, content: str, says: list[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    refused = run("demo", "--workload", str(bad), "--json", code=2)
    document = json.loads(refused.stdout)
    assert document["error"].startswith("demo workload ")
    assert "routing config refused" not in document["error"]
    assert "a routing config is" not in document["error"]
    for part in says:
        assert part in document["error"], document["error"]
    assert refused.stderr.startswith("error: demo workload ")
    assert "Traceback" not in refused.stderr


def test_a_missing_workload_file_is_named() -> None:
    refused = run("demo", "--workload", "/nonexistent/day.yaml", code=2)
    assert refused.stderr.startswith("error: demo workload refused:")
    assert "cannot read /nonexistent/day.yaml" in refused.stderr


def test_the_shipped_workload_loads_and_a_routing_config_is_still_called_one(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert load_workload().name
    assert WORKLOAD.label == "demo workload"
    # The same reader, for `config apply`, still names a routing config
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n")
    with pytest.raises(ConfigError) as refused:
        load_workload(bad)
    assert refused.value.what == "demo workload"
    applied = run("config", "apply", str(bad), code=2)
    assert "routing config refused" in applied.stderr
    assert "a routing config is a mapping of models" in applied.stderr
