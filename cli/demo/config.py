"""Which routing config the demo runs: the one it started from (offline: the shipped
default), and the changes it makes for the day (provider batches for keys the shipped
config calls directly, shadow trials, the live change), each a config version of its
own, undone at the end. The report says so, so that no figure of the day is read as the
shipped config's."""

from __future__ import annotations

from typing import Any

from routing.config.store import ConfigStore

AUTHOR = "llm-router demo"


def described(store: ConfigStore, mode: str, base_version: int) -> dict[str, Any]:
    """The config the day ran on: its starting version and the demo's own versions."""
    entries = [e for e in store.history(200)
               if int(e.get("version", 0)) > base_version and e.get("author") == AUTHOR]
    started = ("the shipped default config" if mode == "offline"
               else "the deployment's config")
    return {"started_from": f"{started} (version {base_version})",
            "demo_changes": [{"version": e["version"], "summary": e.get("summary")}
                             for e in sorted(entries, key=lambda e: int(e["version"]))]}


def lines(config: dict[str, Any]) -> list[str]:
    """The config the day ran on, as text."""
    out = [f"config: {config['started_from']}, changed for the day by the demo (undone "
           "at the end):"]
    out += [f"  version {c['version']}: {c['summary']}" for c in config["demo_changes"]]
    return out
