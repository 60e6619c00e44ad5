"""The names of the budgets a call is charged to (in errors, `budget show`, the ledger's
records and the window hash)."""

from __future__ import annotations

OVERALL = "overall"


def key_budget(model_key: str) -> str:
    """The name of a model key's budget (as in errors, `budget show` and the window hash)."""
    return f"model_key:{model_key}"


def trial_budget(model_key: str, candidate: str) -> str:
    """The name of a shadow trial's own budget: never the production budgets."""
    return f"trial:{model_key}:{candidate}"


def agent_budget(agent: str) -> str:
    """The name of an agent's daily budget (counted for every attributed agent: its spend
    in `budget show`; limited where `budgets.agents.<agent>.daily_usd` says)."""
    return f"agent:{agent}"


def production_budgets(model_key: str, agent: str = "") -> tuple[str, ...]:
    """The budgets a production call of `model_key` (by `agent`) is charged to."""
    if agent:
        return OVERALL, key_budget(model_key), agent_budget(agent)
    return OVERALL, key_budget(model_key)
