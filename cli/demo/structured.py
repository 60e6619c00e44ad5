"""The demo's typed outputs, with and without native structured output.

Each typed task's result says how its answer was asked for (`structured_output`: `native`,
the provider's own mechanism, or `prompt`, the schema in the system prompt); each model
it escalated from gave an invalid output, asked for the way that model supports. So the
day's invalid outputs and escalations are counted per mechanism: on the simulated
provider the prompt convention loses the JSON format at the workload's
`simulated_format_error_rate`, native structured output never does.
"""

from __future__ import annotations

from typing import Any

from cli.demo.runner import Played
from routing.config.kinds import Capability
from routing.config.models import RoutingConfig

MECHANISMS = ("native", "prompt")


def _mechanism(config: RoutingConfig, model: str) -> str:
    spec = config.models.get(model)
    native = spec is not None and Capability.structured_output in spec.supports
    return "native" if native else "prompt"


def summary(played: Played, config: RoutingConfig) -> dict[str, Any]:
    """Per mechanism: valid answers, invalid outputs (each one escalated, unless the task
    failed for it) and the tasks that escalated, then the shadow trials' typed samples
    and their candidates' invalid outputs; `failed_invalid`: typed tasks failed with no
    escalation left."""
    out: dict[str, Any] = {m: {"answers": 0, "invalid_outputs": 0, "escalated_tasks": 0}
                           for m in MECHANISMS}
    for result in played.results.values():
        how = result.get("structured_output") if isinstance(result, dict) else None
        if how not in out:
            continue  # free text (llm.run)
        out[how]["answers"] += 1
        left = {_mechanism(config, m) for m in result.get("escalated_from") or ()}
        for model in result.get("escalated_from") or ():
            out[_mechanism(config, model)]["invalid_outputs"] += 1
        for mechanism in left:
            out[mechanism]["escalated_tasks"] += 1
    for entry in out.values():
        entry["trial_samples"] = entry["trial_invalid"] = 0
    for key in ((played.review or {}).get("model_keys") or {}).values():
        for trial in key.get("trials") or ():
            entry = out[_mechanism(config, str(trial.get("candidate")))]
            entry["trial_samples"] += int(trial.get("samples") or 0)
            entry["trial_invalid"] += int(trial.get("candidate_invalid") or 0)
    for entry in out.values():
        seen = entry["answers"] + entry["invalid_outputs"]
        entry["invalid_rate"] = round(entry["invalid_outputs"] / seen, 4) if seen else None
    out["failed_invalid"] = sum(1 for f in played.failures.values()
                                if f.startswith("OutputInvalidError"))
    return out


def lines(s: dict[str, Any], format_error_rate: float | None) -> list[str]:
    """The summary in words (empty when the day had no typed answers)."""
    if not any(s[m]["answers"] for m in MECHANISMS):
        return []
    rate = (f", the prompt convention losing the format at {format_error_rate:g}"
            if format_error_rate else "")
    out = [f"typed outputs (native structured output vs the prompt convention{rate}):"]
    for m in MECHANISMS:
        e = s[m]
        share = f" ({e['invalid_rate']:.1%} of outputs)" if e["invalid_rate"] is not None else ""
        trials = (f"; shadow trials: {e['trial_invalid']} invalid of {e['trial_samples']} "
                  "replays" if e["trial_samples"] else "")
        out.append(f"  {m}: {e['answers']} valid answers, {e['invalid_outputs']} invalid "
                   f"outputs{share}, {e['escalated_tasks']} tasks escalated{trials}")
    if s["failed_invalid"]:
        out.append(f"  {s['failed_invalid']} typed tasks failed with no escalation left")
    return out
