"""The multi-agent system of the routing strategy, built on llm-router as a user builds it:
every agent's call is a task sent by name (`llm.run` or a typed task) with the agent and the
run it belongs to, routed by its model key, charged and budgeted like any other call.

- The CEO (`strategic_decision`) takes the human's request,
- the orchestrator (`orchestration`) plans it,
- coding workers (`code_generation`) work in tool-calling loops over the sample repository
  (list a directory, read a file, propose a patch), in parallel,
- a reviewer (`code_review`) reads the patches,
- the CEO decides whether it is good enough to show the human (one rework round at most),
- beside the run, the monitoring and curation crons run as Beat runs them (the reviewer's
  findings go to the curation inbox, as other agents' notes do).
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from celery import Celery

from cli.demo.system import System
from examples.agents.tools import TOOLS, Workspace
from routing.spend.runs import RunBook
from tasks.crons import CURATION_INBOX

REQUEST = ("Order totals drift by a cent on large orders: fix the rounding in "
           "inventory.order_total and keep the tests passing.")
MAX_CODERS = 3
MAX_TURNS = 6  # tool round trips per instruction before a coding worker gives up on it
PHASES = (
    "Use list_dir to see what the repository holds. Your task: {task}",
    "Use read_file on {file} to read the code you will change.",
    "Use propose_patch with a unified diff of {file} that does the task.",
)
# Two coding workers at least: the fix, and a test that pins it (the plan's steps first).
FILES = ("inventory.py", "test_inventory.py")
SECOND = "Add a test for a large order's total to test_inventory.py."
CODER_SYSTEM = ("You are a coding worker. Work only through the tools you are given; "
                "when an instruction is done, say so in one sentence.")


@dataclass
class Call:
    """One task an agent sent, with its result."""

    agent: str
    what: str
    task: str
    result: dict[str, Any]


class RunStopped(Exception):
    """The run reached its cap (or was stopped): the router refused its next call."""


@dataclass
class Run:
    """One piece of work: a request and everything spawned for it, under one `run_id`."""

    app: Celery
    timeout: float
    max_usd: float | None = None  # the run's cap, given by the sender with every call
    run_id: str = field(default_factory=lambda: f"example-{uuid.uuid4().hex[:10]}")
    calls: list[Call] = field(default_factory=list)
    _lock: Lock = field(default_factory=Lock)

    def send(self, agent: str, what: str, task: str, *, in_run: bool = True,
             **kwargs: Any) -> dict[str, Any]:
        attribution: dict[str, Any] = {"agent": agent}
        if in_run:
            attribution["run_id"] = self.run_id
            if self.max_usd is not None:
                attribution["run_max_usd"] = self.max_usd
        result = self.app.send_task(task, kwargs={**kwargs, **attribution})
        try:
            answer: dict[str, Any] = result.get(timeout=self.timeout,
                                                disable_sync_subtasks=False)
        except Exception as exc:
            if type(exc).__name__ == "RunBudgetExceeded":
                raise RunStopped(str(exc)) from exc
            raise
        with self._lock:
            self.calls.append(Call(agent, what, task, answer))
        return answer


def coder(run: Run, n: int, task: str, file: str, workspace: Workspace) -> str:
    """One coding worker's tool-calling loop: each instruction, then tool calls until the
    model answers in text."""
    agent = "coder"
    messages: list[dict[str, Any]] = []
    text = ""
    for phase in PHASES:
        messages.append({"role": "user", "content": phase.format(task=task, file=file)})
        for _ in range(MAX_TURNS):
            answer = run.send(agent, f"coder {n}: {phase.split()[1]}", "llm.run",
                              model_key="code_generation", system=CODER_SYSTEM,
                              messages=messages, tools=TOOLS, max_tokens=1024)
            calls = answer.get("tool_calls") or []
            content: list[dict[str, Any]] = []
            if answer.get("text"):
                content.append({"type": "text", "text": answer["text"]})
            content += [{"type": "tool_use", "id": c["id"], "name": c["name"],
                         "input": c["arguments"]} for c in calls]
            messages.append({"role": "assistant", "content": content})
            if not calls:
                text = answer.get("text") or ""
                break
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": c["id"],
                 "content": workspace.run(c["name"], c["arguments"])} for c in calls]})
    return text


def play(system: System, *, request: str = REQUEST, timeout: float = 60.0,
         max_usd: float | None = None) -> dict[str, Any]:
    app = system.app
    run = Run(app, timeout, max_usd)

    # Beside the run: the crons, sent as Beat sends them (their work is the monitor's and
    # the curator's, not the run's).
    crons = {name: app.send_task(name, headers={"llm_agent": agent})
             for name, agent in (("cron.monitoring", "monitor"),)}

    workspace = Workspace()
    outcome: dict[str, Any] = {"review": {}, "decision": {}, "stopped": None}
    try:
        work(run, request, workspace, outcome)
    except RunStopped as exc:  # the run's cap ended it: what was done is still reported
        outcome["stopped"] = str(exc)
    review = outcome["review"]

    # The reviewer's findings go to the curation inbox, which the curation cron drains.
    findings = [{"id": f"{run.run_id}-{n}", "title": f"review finding ({f['severity']})",
                 "text": f["message"]} for n, f in enumerate(review.get("findings", []), 1)]
    if findings:
        system.rt.redis.rpush(system.rt.settings.key(CURATION_INBOX),
                              *(json.dumps(item) for item in findings))
    crons["cron.content_curation"] = app.send_task(
        "cron.content_curation", headers={"llm_agent": "curator"})
    cron_work = _follow(app, crons, timeout)
    ledger = RunBook(system.rt.redis, system.rt.settings.namespace).show(run.run_id)
    return {"run_id": run.run_id, "request": request, "calls": run.calls,
            "patches": workspace.patches, "review": review, "decision": outcome["decision"],
            "stopped": outcome["stopped"], "crons": cron_work,
            "ledger": ledger.as_dict() if ledger else None}


def work(run: Run, request: str, workspace: Workspace, outcome: dict[str, Any]) -> None:
    """The run itself: triage, plan, coding workers in parallel, review, decision."""
    triage = run.send("ceo", "takes the request", "tasks.strategic_decision",
                      question=f"The human asks: {request} How do we take it on?",
                      options=["delegate to engineering now", "ask the human for details first"],
                      context="One small repository (inventory); up to three coding workers.")
    plan = run.send("orchestrator", "plans the work", "tasks.orchestration", goal=request,
                    context=f"The CEO decided: {triage['output']['choice']}.")
    tasks = [s["instructions"] for s in plan["output"]["steps"][:MAX_CODERS]]
    if len(tasks) < len(FILES):
        tasks.append(SECOND)
    assigned = [(n, task, FILES[min(n - 1, len(FILES) - 1)])
                for n, task in enumerate(tasks, 1)]

    findings = ""
    for round_ in (1, 2):
        with ThreadPoolExecutor(len(assigned)) as pool:
            list(pool.map(lambda a, f=findings: coder(run, a[0], a[1] + f, a[2], workspace),
                          assigned))
        diff = "\n".join(p["patch"] for p in workspace.patches) or "(no patch proposed)"
        review = run.send("reviewer", f"reviews round {round_}", "tasks.code_review",
                          diff=diff, guidelines="Small, tested changes; no behaviour change "
                                                "beyond the request.")["output"]
        decision = run.send(
            "ceo", f"decides (round {round_})", "tasks.strategic_decision",
            question="Is this good enough to show the human?",
            options=["show the human", "send back for rework"],
            context=(f"{len(workspace.patches)} patches; the reviewer "
                     f"{'approves' if review['approve'] else 'does not approve'} with "
                     f"{len(review['findings'])} findings."))["output"]
        outcome["review"], outcome["decision"] = review, decision
        findings = " The reviewer found: " + "; ".join(
            f["message"] for f in review["findings"]) if review["findings"] else ""
        if decision["choice"] == "show the human":
            break


# Curation's calls go to provider batches in the shipped config (answered within the
# batch window, by the batch cron): the example waits for the monitoring status only.
FOLLOWED = ("cron.monitoring",)


def _follow(app: Celery, crons: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    """Each cron's outcome, and the answer to the work it handed on (monitoring's)."""
    out = []
    for name, result in crons.items():
        ran = result.get(timeout=timeout, disable_sync_subtasks=False)
        handed = ran.get("task_id") if not ran.get("skipped") else None
        answer = None
        if handed and name in FOLLOWED:
            answer = app.AsyncResult(handed).get(timeout=timeout, disable_sync_subtasks=False)
        out.append({"cron": name, "ran": ran, "answer": answer})
    return out


def as_json(played: dict[str, Any]) -> str:
    calls = [{"agent": c.agent, "what": c.what, "task": c.task, **c.result}
             for c in played["calls"]]
    return json.dumps({**played, "calls": calls}, default=str)
