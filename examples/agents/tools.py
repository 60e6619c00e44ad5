"""The coding workers' tools: definitions sent with each turn (Anthropic's shape; OpenAI's
`{"type": "function", "function": {...}}` works the same), and their implementations over
the sample repository shipped with the example. Patches are recorded, never applied."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_REPO = Path(__file__).parent / "sample_repo"

TOOLS: list[dict[str, Any]] = [
    {
        "name": "list_dir",
        "description": "List the files of a directory of the repository.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string",
                                    "description": "relative path, '.' for the root"}},
            "required": ["path"],
        },
    },
    {
        "name": "read_file",
        "description": "Read one file of the repository.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "relative path"}},
            "required": ["path"],
        },
    },
    {
        "name": "propose_patch",
        "description": "Propose a unified diff for one file; a reviewer reads it.",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "patch": {"type": "string", "description": "a unified diff"},
            },
            "required": ["path", "patch"],
        },
    },
]


@dataclass
class Workspace:
    """The repository a coding worker sees, and the patches it proposed."""

    root: Path = SAMPLE_REPO
    patches: list[dict[str, str]] = field(default_factory=list)

    def _path(self, given: Any) -> Path | None:
        if not isinstance(given, str):
            return None
        path = (self.root / given).resolve()
        return path if path.is_relative_to(self.root.resolve()) else None

    def run(self, name: str, arguments: dict[str, Any]) -> str:
        """The tool's answer (an error is an answer too: the model reads it and goes on)."""
        if name == "list_dir":
            path = self._path(arguments.get("path", "."))
            if path is None or not path.is_dir():
                path = self.root  # a model that names no real directory sees the root
            return json.dumps(sorted(p.name for p in path.iterdir()))
        if name == "read_file":
            path = self._path(arguments.get("path"))
            if path is None or not path.is_file():
                names = sorted(p.name for p in self.root.iterdir() if p.is_file())
                return f"no such file: {arguments.get('path')!r}; files: {', '.join(names)}"
            return path.read_text()
        if name == "propose_patch":
            self.patches.append({"path": str(arguments.get("path", "")),
                                 "patch": str(arguments.get("patch", ""))})
            return "patch recorded for review"
        return f"unknown tool {name!r}"
