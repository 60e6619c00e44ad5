"""A real browser for the HTML report tests: headless Chromium, Debian's package.

`scripts/test.sh` installs it where apt-get exists (`apt-get install -y chromium`); a run
without it fails with that command (it never skips). LLM_ROUTER_CHROMIUM names another
binary. Every run gets a fresh profile, no network (every host name resolves to nothing),
and a time limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

INSTALL = "apt-get update && apt-get install -y chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
)


@dataclass(frozen=True)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None


class _Collect(HTMLParser):
    """Every element of a document, with its attributes and its parent."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "area", "base", "col",
                      "embed", "source", "track", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.stack: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs},
                          self.stack[-1] if self.stack else None)
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs},
                                     self.stack[-1] if self.stack else None))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break


def elements(dom: str) -> list[Element]:
    parser = _Collect()
    parser.feed(dom)
    return parser.elements


@dataclass(frozen=True)
class Chromium:
    binary: str

    def _run(self, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(prefix="llmr-chromium-") as profile:
            proc = subprocess.run(
                [self.binary, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                capture_output=True, text=True, timeout=120, check=False,
            )
        assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{proc.stderr}"
        return proc

    def dump_dom(self, page: Path) -> str:
        """The DOM after the page loaded, serialized by the browser."""
        return self._run(page, "--dump-dom").stdout

    def screenshot(self, page: Path, out: Path, width: int = 1280, height: int = 2000) -> Path:
        self._run(page, f"--screenshot={out}", f"--window-size={width},{height}")
        assert out.is_file() and out.stat().st_size > 0, f"no screenshot at {out}"
        return out


def find_chromium() -> str | None:
    named = os.environ.get("LLM_ROUTER_CHROMIUM")
    if named:
        return named
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    binary = find_chromium()
    if binary is None:
        pytest.fail(f"headless Chromium is not installed; install it with:\n  {INSTALL}\n"
                    "(scripts/test.sh does this where apt-get exists) or set "
                    "LLM_ROUTER_CHROMIUM to a Chromium binary", pytrace=False)
    return Chromium(binary)
