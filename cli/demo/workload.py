"""The demo's workload: a YAML file of one day's crons, ad-hoc calls and large-context
calls, turned into a timeline of task sends (deterministic for a given seed and scale)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from routing.config.file import DocumentKind, parse_document, read_document
from routing.errors import ConfigError

DAY = 86400
SHIPPED = "workload.yaml"
# What the refusals of a workload file name (it is read as strictly as a routing config).
WORKLOAD = DocumentKind(
    "demo workload",
    "a mapping with a `name` and the day's `crons`, `adhoc` and `large_context` calls "
    "(optionally `seed`, `live_change`, `curation_items`, `trials`, `simulated_error_rates`, "
    "`simulated_format_error_rate`, `batch`, `replay`), like the shipped cli/demo/workload.yaml",
    "a demo workload: its `name` and the day's `crons`, `adhoc` and `large_context` calls, "
    "like the shipped cli/demo/workload.yaml")


def refused(problems: list[tuple[str, str]], source: str = "") -> ConfigError:
    """A workload's refusal, named as such (and its file, when given)."""
    return ConfigError(problems, f"{WORKLOAD.label} {source}".rstrip())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CronPlay(_Model):
    entry: str = Field(description="a Beat entry of beat_schedule.SCHEDULE")
    inbox_items: int = Field(default=0, ge=0)


class LiveChange(_Model):
    at_hour: float = Field(default=12, ge=0, lt=24)
    model_key: str
    model: str


class _Spread(_Model):
    task: str
    hours: tuple[float, float] = (0, 24)

    @model_validator(mode="after")
    def _hours(self) -> _Spread:
        start, end = self.hours
        if not 0 <= start < end <= 24:
            raise ValueError(f"hours must be [start, end] within 0..24, got {list(self.hours)}")
        return self


class AdHoc(_Spread):
    per_day: int = Field(ge=0)
    inputs: list[dict[str, Any]] = Field(min_length=1)
    # A text field of the input that gets the call's number appended (" (#17)"), so that
    # every call is a distinct input (a shadow trial then scores as many independent
    # answers as it has samples, not the few inputs cycled through).
    number: str | None = Field(default=None, min_length=1)

    def input(self, i: int) -> dict[str, Any]:
        """The input of this entry's call `i` (0-based)."""
        kwargs = dict(self.inputs[i % len(self.inputs)])
        if self.number is not None:
            kwargs[self.number] = f"{kwargs.get(self.number, '')} (#{i + 1})".lstrip()
        return kwargs


class LargeContext(_Spread):
    count: int = Field(ge=0)
    chars: int = Field(ge=1)
    into: str = Field(pattern="^(diff|context|files)$")
    input: dict[str, Any] = Field(default_factory=dict)


class BatchPlay(_Model):
    # model key -> its batch settings for the day (as in the routing config)
    model_keys: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Beat's batch entry is played every this many minutes of the day
    round_minutes: float = Field(default=30, gt=0, le=1440)


class ReplayPlay(_Model):
    # The key whose calls the day records (samples), proposed candidates at the end of
    # the day (`review --candidates`), the best with a batch API trialled and replayed.
    model_key: str
    trial_budget_usd: float = Field(default=5.0, gt=0, le=1000)


class Workload(_Model):
    name: str
    seed: int = 0
    crons: list[CronPlay] = Field(default_factory=list)
    live_change: LiveChange | None = None
    curation_items: list[dict[str, str]] = Field(default_factory=list)
    adhoc: list[AdHoc] = Field(default_factory=list)
    large_context: list[LargeContext] = Field(default_factory=list)
    # Shadow trials the demo runs (model key -> trial entries of the routing config), and
    # the simulated provider's per-model error rates that make them meaningful offline.
    trials: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    simulated_error_rates: dict[str, float] = Field(default_factory=dict)
    # The share of the simulated provider's typed answers under the prompt convention that
    # lose the JSON format (native structured output never does): the report counts the
    # invalid outputs and escalations of each mechanism.
    simulated_format_error_rate: float = Field(default=0.0, ge=0, le=1)
    # Work that can wait: keys batched for the day, and the pace of Beat's batch entry.
    batch: BatchPlay = Field(default_factory=BatchPlay)
    # A new model evaluated the same day: recorded samples replayed on a candidate.
    replay: ReplayPlay | None = None


def load_workload(path: str | Path | None = None) -> Workload:
    """The shipped workload, or the one at `path`; a bad file raises `ConfigError`."""
    # Read as strictly as a routing config (size, encoding, depth, aliases, duplicate keys).
    if path is None:
        data = resources.files("cli.demo").joinpath(SHIPPED).read_bytes()
        document = parse_document(data, f"workload {SHIPPED}", kind=WORKLOAD)
    else:
        document = read_document(path, WORKLOAD)
    source = SHIPPED if path is None else str(path)
    try:
        return Workload.model_validate(document)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]), e["msg"])
                    for e in exc.errors(include_url=False)]
        if "name" not in document and {"models", "model_keys"} & set(document):
            problems.insert(0, ("", "this looks like a routing config (models, model_keys): "
                                "--workload takes a demo workload, " + WORKLOAD.shape))
        raise refused(problems, source) from None


@dataclass(frozen=True)
class Event:
    """One send: `task` with `kwargs` at `at` seconds into the day."""

    at: float
    task: str
    kind: str  # "cron", "adhoc" or "large"
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    inbox: tuple[dict[str, str], ...] = ()  # pushed to the curation inbox before the send
    label: str = ""


def scaled(n: int, scale: float) -> int:
    """`n` calls at `scale`, at least one of every kind that has any."""
    return max(1, round(n * scale)) if n > 0 else 0


def _times(rng: random.Random, n: int, hours: tuple[float, float]) -> list[float]:
    start, end = hours[0] * 3600, hours[1] * 3600
    return sorted(rng.uniform(start, end) for _ in range(n))


def _cron_events(w: Workload, scale: float) -> list[Event]:
    from beat_schedule import INTERVALS, SCHEDULE

    events: list[Event] = []
    items = w.curation_items or [{"title": "an item", "text": ""}]
    pushed = 0
    for play in w.crons:
        if play.entry not in SCHEDULE:
            raise refused([("crons", f"unknown Beat entry '{play.entry}' "
                                     f"(known: {', '.join(sorted(SCHEDULE))})")])
        entry = SCHEDULE[play.entry]
        runs = scaled(DAY // INTERVALS[play.entry], scale)
        every = DAY / runs
        for k in range(runs):
            inbox = []
            for _ in range(play.inbox_items):
                item = items[pushed % len(items)]
                inbox.append({"id": f"item-{pushed + 1}", **item})
                pushed += 1
            events.append(Event(k * every, entry["task"], "cron",
                                options=dict(entry.get("options", {})), inbox=tuple(inbox),
                                label=play.entry))
    return events


def timeline(w: Workload, scale: float = 1.0) -> list[Event]:
    """Every send of the day, in time order."""
    rng = random.Random(w.seed)
    events = _cron_events(w, scale)
    for adhoc in w.adhoc:
        n = scaled(adhoc.per_day, scale)
        for i, at in enumerate(_times(rng, n, adhoc.hours)):
            events.append(Event(at, adhoc.task, "adhoc", adhoc.input(i)))
    for big in w.large_context:
        n = scaled(big.count, scale)
        for i, at in enumerate(_times(rng, n, big.hours)):
            events.append(Event(at, big.task, "large", large_input(big, i)))
    events.sort(key=lambda e: e.at)
    return events


# -- synthesized repositories for the large-context calls ------------------------------

_NOUNS = ("order", "invoice", "customer", "shipment", "ticket", "report", "session", "plan")
_VERBS = ("load", "validate", "price", "persist", "notify", "archive", "merge", "render")


def _function(i: int) -> str:
    noun, verb = _NOUNS[i % len(_NOUNS)], _VERBS[(i // len(_NOUNS)) % len(_VERBS)]
    return (
        f"def {verb}_{noun}_{i}({noun}: dict[str, Any], *, retries: int = 3) -> dict[str, Any]:\n"
        f'    """{verb.capitalize()} {noun} #{i}: check its fields, apply the rules, keep a '
        f'trace."""\n'
        f"    if not {noun}.get(\"id\"):\n"
        f"        raise ValueError(\"{noun} without id\")\n"
        f"    total = sum(line[\"qty\"] * line[\"price\"] for line in {noun}.get(\"lines\", []))\n"
        f"    for attempt in range(retries):\n"
        f"        if STORE.put(\"{noun}:\" + {noun}[\"id\"], {{**{noun}, \"total\": total}}):\n"
        f"            break\n"
        f"        time.sleep(0.1 * 2 ** attempt)\n"
        f"    return {{\"id\": {noun}[\"id\"], \"total\": total, \"step\": \"{verb}\"}}\n\n\n"
    )


def synth_files(chars: int, seed: int = 0, per_file: int = 40_000) -> dict[str, str]:
    """A repository of Python modules holding at least `chars` characters of code."""
    files: dict[str, str] = {}
    header = "from typing import Any\nimport time\n\nfrom app.store import STORE\n\n\n"
    total, i, module = 0, seed * 1000, 0
    while total < chars:
        body = [header]
        size = len(header)
        while size < per_file and total + size < chars:
            fn = _function(i)
            body.append(fn)
            size += len(fn)
            i += 1
        files[f"app/module_{module:02d}.py"] = "".join(body)
        total += size
        module += 1
    return files


def as_diff(files: dict[str, str]) -> str:
    """New files as one unified diff."""
    parts = []
    for path, text in files.items():
        lines = text.splitlines()
        parts.append(f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n")
        parts.append("".join(f"+{line}\n" for line in lines))
    return "".join(parts)


def large_input(big: LargeContext, index: int) -> dict[str, Any]:
    files = synth_files(big.chars, seed=index)
    if big.into == "diff":
        return {**big.input, "diff": as_diff(files)}
    if big.into == "context":
        return {**big.input, "context": "".join(f"# file: {p}\n{t}" for p, t in files.items())}
    return {**big.input, "files": files}
