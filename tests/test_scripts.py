"""scripts/venv.sh (sourced by test.sh and demo.sh): it installs the lock, then the project
without resolving anything, only when it must, and says why in one line.

The project directory is a temporary copy holding pyproject.toml and the lock, and
`.venv/bin/python` a stand-in that records how it was called (pip installs, the
installed-check), so each case runs in milliseconds and without a package index.
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
        (root / "requirements").mkdir()
        (root / "requirements" / "dev.lock").write_text("x==1 --hash=sha256:00\n")
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
        """The extras of each project install; each must follow an install of the lock."""
        calls = [line for line in self.log.read_text().splitlines()
                 if line.startswith("-m pip install")]
        lock = "-m pip install -q --require-hashes --no-deps -r requirements/dev.lock"
        project = "-m pip install -q --no-deps --no-build-isolation -e "
        assert calls[0::2] == [lock] * len(calls[1::2]), calls
        assert all(call.startswith(project) for call in calls[1::2]), calls
        return [call.removeprefix(project) for call in calls[1::2]]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def test_installs_once_then_only_when_pyproject_or_the_lock_changes(project: Project) -> None:
    first = project.source(".[dev]")
    assert first.returncode == 0, first.stderr
    assert "installing the project into .venv" in first.stderr
    assert project.installs() == [".[dev]"]

    # Nothing changed: no install, and nothing printed
    again = project.source(".[dev]")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert project.installs() == []
    # The demo's install (no extras) is covered by the dev install
    assert project.source(".").stderr == "" and project.installs() == []

    (project.root / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '2'\n")
    changed = project.source(".[dev]")
    reinstall = "pyproject.toml or requirements/dev.lock changed: reinstalling into .venv..."
    assert changed.stderr.strip() == reinstall
    assert project.installs() == [".[dev]"]
    assert project.source(".[dev]").stderr == ""

    # The lock moved (scripts/lock.sh): the locked versions are installed again
    (project.root / "requirements" / "dev.lock").write_text("x==2 --hash=sha256:01\n")
    moved = project.source(".[dev]")
    assert moved.stderr.strip() == reinstall
    assert project.installs() == [".[dev]"]


def test_more_extras_or_a_broken_install_reinstall(project: Project) -> None:
    assert project.source(".").returncode == 0
    assert project.installs() == ["."]
    # test.sh after demo.sh: the dev extra was never installed
    dev = project.source(".[dev]")
    assert dev.stderr.strip() == "installing .[dev] into .venv..."
    assert project.installs() == [".[dev]"]
    # The project no longer imports from .venv (moved checkout, uninstalled package)
    broken = project.source(".[dev]", FAKE_NOT_INSTALLED="1")
    assert "is not installed in .venv from here: reinstalling" in broken.stderr
    assert project.installs() == [".[dev]"]


def test_a_failed_install_is_tried_again_next_time(project: Project) -> None:
    failed = project.source(".[dev]", FAKE_PIP_FAILS="1")
    assert failed.returncode != 0
    retry = project.source(".[dev]")
    assert retry.returncode == 0 and "installing the project" in retry.stderr
    assert project.installs() == [".[dev]"]


def test_the_real_venv_is_up_to_date_after_the_test_run_set_it_up() -> None:
    """This run was started by scripts/test.sh (or after it): sourcing it again is a no-op."""
    if not (ROOT / ".venv" / ".llm-router-installed").exists():
        pytest.skip("this run's .venv was not set up by scripts/venv.sh")
    proc = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source scripts/venv.sh ".[dev]"'],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
