"""`llm-router budget show|set`: the budgets of the current window, and changing them.

`budget set` edits the `budgets` section (and a key's `on_budget_exceeded` policy) of the
routing config through the config store: a new config version, live everywhere.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from cli import budget_app
from cli.context import (
    EXIT_CODES_HELP,
    EXIT_INVALID,
    JsonOpt,
    author,
    emit_json,
    fail,
    guarded,
    open_store,
    say,
)
from cli.table import Table
from routing.config.kinds import BudgetPolicy
from routing.money import usd

OFF = ("off", "none")


def _money(micros: int | None) -> str:
    return "-" if micros is None else f"{usd(micros):.6f}"


@budget_app.command("show", short_help="Each budget: limit, spend, what is left.")
def show(
    as_json: JsonOpt = False,
) -> None:
    """Per budget of the current window: limit, spent, reserved, remaining, resets at."""
    from routing.spend.budget import BudgetBook
    from routing.spend.budget_names import OVERALL
    from routing.spend.deferred import DeferredTasks

    with guarded():
        store = open_store()
        config = store.read()
        statuses = BudgetBook(store.redis, store.namespace).status(config)
        deferred = DeferredTasks(store.redis, store.namespace).count()
    budgets: list[dict[str, Any]] = []
    for s in statuses:
        entry = s.as_dict()
        if s.budget.startswith("trial:"):
            entry["policy"] = "trial (sampling stops when spent)"
        elif s.budget.startswith("agent:"):
            agent = config.budgets.agents[s.budget.split(":", 1)[1]]
            entry["policy"] = str(agent.on_budget_exceeded)
        elif s.budget != OVERALL:
            spec = config.model_keys[s.budget.split(":", 1)[1]]
            entry["policy"] = str(spec.on_budget_exceeded)
            entry["downgrade_to"] = spec.downgrade_to
        budgets.append(entry)
    if as_json:
        emit_json({"namespace": store.namespace, "config_version": config.version,
                   "window_seconds": config.budgets.window_seconds, "budgets": budgets,
                   "deferred_tasks": deferred})
        return
    say(f"budgets of config version {config.version}, window "
                  f"{config.budgets.window_seconds} s, resets at {statuses[0].resets_at}")

    table = Table("budget", "limit $", "spent $", "of which estimated $", "reserved $",
                  "remaining $", "policy")
    for b in budgets:
        policy = b.get("policy", "")
        if b.get("downgrade_to") and policy == "downgrade":
            policy += f" -> {b['downgrade_to']}"
        table.add_row(b["budget"], _money(b["limit_micros"]), _money(b["spent_micros"]),
                      _money(b["estimated_micros"]), _money(b["reserved_micros"]),
                      _money(b["remaining_micros"]), policy)
    say(table)
    say(f"tasks deferred until a budget window resets: {deferred}")


def _usd(text: str) -> str | None:
    """A `--daily-usd` value as a decimal string, or None for 'off'."""
    if text.lower() in OFF:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"--daily-usd must be a number of USD (e.g. 2.50) or 'off', got {text!r}",
             EXIT_INVALID)
    if not value.is_finite() or value < 0:
        fail(f"--daily-usd must be a non-negative number of USD, got {text!r}", EXIT_INVALID)
    from routing.config.models import SMALLEST_BUDGET_USD

    if 0 < value < SMALLEST_BUDGET_USD:
        fail(f"--daily-usd {text} is below the smallest budget, {SMALLEST_BUDGET_USD:f} USD "
             "(budgets count micro-dollars): give at least that, or 0 to block every call",
             EXIT_INVALID)
    return f"{value:f}"


def _check_downgrade(doc: dict[str, Any], model_key: str, *, given: bool) -> None:
    """Refuse, naming the flag, a downgrade that is not one: to the key's own model, or to a
    model that does not cost less (`routing.config.models.downgrade_problem`); checked when
    --downgrade-to is given (whatever the policy) or the policy is `downgrade`."""
    from routing.config.models import ModelSpec, downgrade_problem
    from routing.config.schema import load_model
    from routing.config.stored import read

    spec = doc["model_keys"][model_key]
    target = spec.get("downgrade_to")
    if not target or not (given or spec.get("on_budget_exceeded") == str(BudgetPolicy.downgrade)):
        return  # (policy downgrade without a target: the config validation says so)
    if target not in doc["models"] or spec["model"] not in doc["models"]:
        return  # an unknown model: the config validation names it
    models = {name: read(ModelSpec, m, load_model) for name, m in doc["models"].items()}
    problem = downgrade_problem(models, spec["model"], target)
    if problem is not None:
        flag = "--downgrade-to" if given else f"--policy downgrade (downgrade_to {target})"
        fail(f"{flag}: {problem}", EXIT_INVALID,
             problems=[{"path": f"model_keys.{model_key}.downgrade_to", "reason": problem}])


@budget_app.command("set", short_help="Change a budget or its policy.",
                    epilog=EXIT_CODES_HELP)
def set_budget(
    daily_usd: Annotated[str | None, typer.Option(
        help="Daily limit in USD ('off' removes it): overall, or of --model-key.")] = None,
    model_key: Annotated[str | None, typer.Option(
        help="The model key whose budget or policy changes.")] = None,
    window_seconds: Annotated[int | None, typer.Option(
        min=1, help="Budget window length in seconds (86400: the UTC day).")] = None,
    policy: Annotated[BudgetPolicy | None, typer.Option(
        help="What --model-key does when its reservation fails.")] = None,
    downgrade_to: Annotated[str | None, typer.Option(
        help="The cheaper model of policy 'downgrade' (with --model-key).")] = None,
    expect_version: Annotated[int | None, typer.Option(
        min=0, help="Refuse (exit 3) unless the store still holds this version.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change budgets (a new config version, live everywhere; the same values write
    nothing). A limit is at least 0.000001 USD; 0 blocks every call of its budget.

    \b
    Examples:
      llm-router budget set --daily-usd 50
      llm-router budget set --model-key monitoring --daily-usd 2
      llm-router budget set --model-key lookup --policy downgrade --downgrade-to MODEL
    """
    if daily_usd is None and window_seconds is None and policy is None and downgrade_to is None:
        fail("nothing to change: give --daily-usd, --window-seconds, --policy or "
             "--downgrade-to", EXIT_INVALID)
    if (policy is not None or downgrade_to is not None) and model_key is None:
        fail("--policy and --downgrade-to need --model-key K (the key whose policy changes)",
             EXIT_INVALID)
    if model_key is not None and daily_usd is None and policy is None and downgrade_to is None:
        fail("--model-key needs --daily-usd, --policy or --downgrade-to", EXIT_INVALID)
    limit = _usd(daily_usd) if daily_usd is not None else None

    def change(doc: dict[str, Any]) -> str:
        budgets = doc.setdefault("budgets", {})
        done: list[str] = []
        if model_key is not None and model_key not in doc["model_keys"]:
            known = ", ".join(sorted(doc["model_keys"]))
            fail(f"--model-key: unknown model key '{model_key}' (known: {known})", EXIT_INVALID)
        if daily_usd is not None and model_key is None:
            budgets["daily_usd"] = limit
            done.append(f"overall daily_usd={limit or 'off'}")
        elif daily_usd is not None and model_key is not None:
            keys = budgets.setdefault("model_keys", {})
            if limit is None:
                keys.pop(model_key, None)
            else:
                keys[model_key] = {"daily_usd": limit}
            done.append(f"{model_key} daily_usd={limit or 'off'}")
        if window_seconds is not None:
            budgets["window_seconds"] = window_seconds
            done.append(f"window_seconds={window_seconds}")
        if model_key is not None and (policy is not None or downgrade_to is not None):
            spec = doc["model_keys"][model_key]
            if policy is not None:
                spec["on_budget_exceeded"] = str(policy)
            if downgrade_to is not None:
                spec["downgrade_to"] = downgrade_to
            _check_downgrade(doc, model_key, given=downgrade_to is not None)
            done.append(f"{model_key} on_budget_exceeded={spec['on_budget_exceeded']}"
                        + (f" -> {spec['downgrade_to']}" if spec.get("downgrade_to") else ""))
        return "budget set: " + ", ".join(done)

    with guarded():
        store = open_store()
        before = store.version()
        config = store.update(change, author=author(), expect_version=expect_version)
        unchanged = config.version == before  # the same values: nothing was written
        summary = None if unchanged else store.history(1)[0].get("summary")
    if limit is not None and Decimal(limit) == 0:
        budget = "overall" if model_key is None else f"model_key:{model_key}"
        typer.echo(f"warning: a 0 limit blocks every call of budget '{budget}' "
                   "('off' removes the limit instead)", err=True)
    if as_json:
        emit_json({"version": config.version, "unchanged": unchanged, "summary": summary,
                   "budgets": config.document()["budgets"]})
        return
    if unchanged:
        say(f"unchanged (version {config.version}): the budgets already say this; "
            "nothing was written")
        return
    say(f"stored routing config version {config.version}: {summary}")
