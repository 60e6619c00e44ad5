"""Playing the day: send every event by task name at its (compressed) time, move one route
live halfway through, follow the results (and the work each cron hands on) to the end."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import states
from celery.result import AsyncResult
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.demo import batches as demo_batches
from cli.demo import replay as demo_replay
from cli.demo import trials as demo_trials
from cli.demo.system import AUTHOR, System
from cli.demo.workload import DAY, BatchPlay, Event, LiveChange, ReplayPlay
from routing.config.models import RoutingConfig
from routing.errors import ConfigError
from routing.evidence.review import review
from tasks.crons import CURATION_INBOX

POLL_SECONDS = 0.05
# After the day, while answers wait in batches, Beat's batch entry is played this often.
BATCH_ROUND_SECONDS = 0.2


@dataclass
class Tracked:
    task: str
    kind: str  # "cron", "cron work", "adhoc" or "large"
    result: AsyncResult  # type: ignore[type-arg]
    parent: str | None = None
    model_key: str | None = None


@dataclass
class Played:
    tracked: dict[str, Tracked] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    change: dict[str, Any] | None = None
    review: dict[str, Any] | None = None  # the routing review of the day (with trials)
    replay: dict[str, Any] | None = None  # the same-day evaluation of a new model
    base_version: int = 0  # the config version the day started from
    started_at: float = 0.0
    wall_seconds: float = 0.0
    timed_out: bool = False


def run_days(started_at: float, ended_at: float) -> list[str]:
    first = datetime.fromtimestamp(started_at, UTC).date()
    last = datetime.fromtimestamp(ended_at, UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def clock(at: float) -> str:
    minutes = int(at // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Player:
    def __init__(self, system: System, events: list[Event], change: LiveChange | None, *,
                 day_seconds: float, timeout: float, progress: Progress,
                 trials: dict[str, list[dict[str, Any]]] | None = None,
                 batch: BatchPlay | None = None, replay: ReplayPlay | None = None) -> None:
        self.system = system
        self.replay = replay
        self.trials = trials or {}
        self.batch = batch or BatchPlay()
        self.app = system.app
        self.rt = system.rt
        self.events = events
        self.change = change
        self.day_seconds = day_seconds
        self.timeout = timeout
        self.progress = progress
        self.played = Played()
        crons = sum(1 for e in events if e.kind == "cron")
        self._sent = progress.add_task("sent", total=len(events))
        # Every cron hands on one task (unless it finds nothing to do).
        self._done = progress.add_task("done", total=len(events) + crons)
        self._last_progress = time.monotonic()

    # -- sending ---------------------------------------------------------------------
    def _send(self, event: Event) -> None:
        if event.inbox:
            key = self.rt.settings.key(CURATION_INBOX)
            self.rt.redis.rpush(key, *(json.dumps(item) for item in event.inbox))
        result = self.app.send_task(event.task, kwargs=event.kwargs, **event.options)
        model_key = event.kwargs.get("model_key") if event.task == "llm.run" else \
            event.task.removeprefix("tasks.")
        self._track(result, event.task, event.kind,
                    model_key=model_key if isinstance(model_key, str) else None)

    def _track(self, result: AsyncResult, task: str, kind: str,  # type: ignore[type-arg]
               parent: str | None = None, *, model_key: str | None = None) -> None:
        self.played.tracked[result.id] = Tracked(task, kind, result, parent, model_key)
        self.played.pending.add(result.id)

    def _wait_until(self, due: float) -> None:
        while (left := due - time.monotonic()) > 0:
            self.poll()
            time.sleep(min(POLL_SECONDS, left))

    # -- the live change -------------------------------------------------------------
    def _finish_key(self, key: str) -> None:
        """Wait for the key's tasks sent so far (bounded by the timeout): the change then
        splits the day's calls of that key into before and after, whatever the machine's
        load (a task routed before it and run after would be routed again)."""
        deadline = time.monotonic() + self.timeout
        played = self.played
        while time.monotonic() < deadline and any(
                played.tracked[t].model_key == key for t in played.pending):
            self.poll()
            time.sleep(POLL_SECONDS)

    def _apply_change(self, change: LiveChange, at: float) -> None:
        self._finish_key(change.model_key)
        before = self.rt.live.get()
        spec = before.model_keys.get(change.model_key)
        if spec is None:
            raise ConfigError([("live_change.model_key",
                                f"unknown model key '{change.model_key}' (known: "
                                f"{', '.join(sorted(before.model_keys))})")], "demo workload")
        stored = self.rt.store.set_model(change.model_key, change.model, author=AUTHOR)
        self.rt.live.wait_for_version(stored.version, timeout=5)
        self.played.change = {
            "model_key": change.model_key, "from": spec.model, "to": change.model,
            "at": clock(at), "version_before": before.version, "version": stored.version,
            "restore_fallbacks": list(spec.fallbacks),
        }
        self.progress.console.print(
            f"[bold]{clock(at)}[/] config set {change.model_key} {change.model}: "
            f"version {before.version} -> {stored.version} ({spec.model} -> {change.model})"
        )

    def _restore(self) -> None:
        change = self.played.change
        if change is None:
            return
        key, model, fallbacks = change["model_key"], change["from"], change.pop(
            "restore_fallbacks")

        def put_back(doc: dict[str, Any]) -> str:
            doc["model_keys"][key]["model"] = model
            doc["model_keys"][key]["fallbacks"] = fallbacks
            return f"demo: {key} back to {model}"

        current: RoutingConfig = self.rt.store.read()
        if current.model_keys[key].model != change["to"]:
            change["restored_version"] = None  # someone changed it since: leave it alone
            return
        restored = self.rt.store.update(put_back, author=AUTHOR)
        self.rt.live.wait_for_version(restored.version, timeout=5)
        change["restored_version"] = restored.version

    # -- following the results -------------------------------------------------------
    def poll(self) -> None:
        played = self.played
        for tid in list(played.pending):
            tracked = played.tracked[tid]
            state = tracked.result.state
            if state not in states.READY_STATES:
                continue
            played.pending.discard(tid)
            self._last_progress = time.monotonic()
            value = tracked.result.result
            if state == states.SUCCESS:
                played.results[tid] = value
                if tracked.kind == "cron":
                    self._cron_done(tracked, value)
            else:
                played.failures[tid] = f"{type(value).__name__}: {value}"
            self.progress.advance(self._done)

    def _cron_done(self, tracked: Tracked, value: Any) -> None:
        child = value.get("task_id") if isinstance(value, dict) else None
        if child is None:  # nothing to hand on (an empty inbox)
            total = self.progress.tasks[self._done].total or 0
            self.progress.update(self._done, total=total - 1)
            return
        cron = self.app.tasks.get(tracked.task)
        key = getattr(cron, "model_key", None) or "?"
        self._track(AsyncResult(child, app=self.app), f"tasks.{key}", "cron work",
                    parent=tracked.result.id, model_key=key)

    # -- the day ---------------------------------------------------------------------
    def play(self) -> Played:
        played = self.played
        played.started_at = time.time()
        start = time.monotonic()
        played.base_version = self.rt.live.get().version
        base_document = self.rt.live.get().document()
        demo_trials.start(self.rt, self.trials)
        demo_replay.start(self.rt, self.replay)
        batched_before = demo_batches.start(self.rt, self.batch.model_keys)
        change_at = self.change.at_hour * 3600 if self.change is not None else None
        round_every = self.batch.round_minutes * 60
        next_round = round_every
        for event in self.events:
            while next_round <= event.at:  # Beat's batch entry, at the day's pace
                self._wait_until(start + next_round / DAY * self.day_seconds)
                demo_batches.play_round(self.app)
                next_round += round_every
            if change_at is not None and event.at >= change_at and played.change is None:
                assert self.change is not None
                self._wait_until(start + change_at / DAY * self.day_seconds)
                self._apply_change(self.change, change_at)
            self._wait_until(start + event.at / DAY * self.day_seconds)
            self._send(event)
            self.progress.update(self._sent, advance=1,
                                 description=f"sent (day {clock(event.at)})")
            self.poll()
        self._last_progress = time.monotonic()
        last_round = 0.0
        while played.pending:
            self.poll()
            if time.monotonic() - self._last_progress > self.timeout:
                played.timed_out = True
                break
            if time.monotonic() - last_round > BATCH_ROUND_SECONDS and demo_batches.waiting(
                    self.rt):
                demo_batches.play_round(self.app)
                last_round = time.monotonic()
            time.sleep(POLL_SECONDS)
        if self.trials:
            days = run_days(played.started_at, time.time())
            if not demo_trials.wait_for_shadows(self.rt, played.results, days, self.timeout):
                played.timed_out = True
            played.review = review(self.rt.ledger, self.rt.live.get(), days=len(days))
            demo_trials.end(self.rt, self.trials)
        if self.replay is not None:
            days = run_days(played.started_at, time.time())
            played.replay = demo_replay.run(self.rt, self.app, self.replay, days, self.timeout)
            demo_replay.end(self.rt, self.replay, base_document)
        demo_batches.end(self.rt, batched_before)
        self._restore()
        played.wall_seconds = time.monotonic() - start
        return played


def make_progress(progress_console: Any) -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=progress_console, transient=False,
    )
