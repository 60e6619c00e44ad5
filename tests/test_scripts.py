"""scripts/venv.sh (sourced by test.sh and demo.sh): it installs only when it must, and
says why in one line.

The project directory is a temporary copy holding pyproject.toml, and `.venv/bin/python` a
stand-in that records how it was called (pip installs, the installed-check), so each case
runs in milliseconds and without a package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.celery import ROOT

FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$1" in
  -I) exit "${FAKE_NOT_INSTALLED:-0}" ;;
  -m) [ "$2 $3" = "pip install" ] && exit "${FAKE_PIP_FAILS:-0}" ;;
esac
exit 0
"""


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "calls.log"
        (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
        python = root / ".venv" / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(FAKE_PYTHON)
        python.chmod(0o755)

    def source(self, extras: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`source scripts/venv.sh EXTRAS` as test.sh does (set -euo pipefail)."""
        self.log.write_text("")
        script = f'set -euo pipefail; source "{ROOT / "scripts" / "venv.sh"}" "$1"'
        return subprocess.run(
            ["bash", "-c", script, "venv.sh", extras], cwd=self.root, capture_output=True,
            text=True, timeout=30,
            env={**os.environ, "PYTHON": sys.executable, "FAKE_LOG": str(self.log), **env},
        )

    def installs(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines()
                if line.startswith("-m pip install -q -e")]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def test_installs_once_then_only_when_pyproject_changes(project: Project) -> None:
    first = project.source(".[dev]")
    assert first.returncode == 0, first.stderr
    assert "installing the project into .venv" in first.stderr
    assert project.installs() == ["-m pip install -q -e .[dev]"]

    # Nothing changed: no install, and nothing printed
    again = project.source(".[dev]")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert project.installs() == []
    # The demo's install (no extras) is covered by the dev install
    assert project.source(".").stderr == "" and project.installs() == []

    (project.root / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '2'\n")
    changed = project.source(".[dev]")
    assert changed.stderr.strip() == "pyproject.toml changed: reinstalling into .venv..."
    assert project.installs() == ["-m pip install -q -e .[dev]"]
    assert project.source(".[dev]").stderr == ""


def test_more_extras_or_a_broken_install_reinstall(project: Project) -> None:
    assert project.source(".").returncode == 0
    assert project.installs() == ["-m pip install -q -e ."]
    # test.sh after demo.sh: the dev extra was never installed
    dev = project.source(".[dev]")
    assert dev.stderr.strip() == "installing .[dev] into .venv..."
    assert project.installs() == ["-m pip install -q -e .[dev]"]
    # The project no longer imports from .venv (moved checkout, uninstalled package)
    broken = project.source(".[dev]", FAKE_NOT_INSTALLED="1")
    assert "is not installed in .venv from here: reinstalling" in broken.stderr
    assert project.installs() == ["-m pip install -q -e .[dev]"]


def test_a_failed_install_is_tried_again_next_time(project: Project) -> None:
    failed = project.source(".[dev]", FAKE_PIP_FAILS="1")
    assert failed.returncode != 0
    retry = project.source(".[dev]")
    assert retry.returncode == 0 and "installing the project" in retry.stderr
    assert project.installs() == ["-m pip install -q -e .[dev]"]


def test_the_real_venv_is_up_to_date_after_the_test_run_set_it_up() -> None:
    """This run was started by scripts/test.sh (or after it): sourcing it again is a no-op."""
    if not (ROOT / ".venv" / ".llm-router-installed").exists():
        pytest.skip("this run's .venv was not set up by scripts/venv.sh")
    proc = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source scripts/venv.sh ".[dev]"'],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
