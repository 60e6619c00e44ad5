"""`python -m examples.agents [--live] [--request TEXT]`: one request through the agents."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from examples.agents.system import handle, render, run_cost, runaway

DEFAULT_REQUEST = "Make sure a discount can never make a cart's total negative."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.agents",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true",
                        help="use this deployment (LLM_ROUTER_* settings, its workers and "
                             "provider keys) instead of the offline in-process system")
    parser.add_argument("--request", default=DEFAULT_REQUEST)
    parser.add_argument("--run-max-usd", type=float, default=None,
                        help="cap the run's spend (RunBudgetExceeded past it)")
    parser.add_argument("--loop-cap-usd", type=float, default=0.02,
                        help="then a looping coder under this run cap (0: skip it)")
    args = parser.parse_args(argv)
    from routing.spend.runs import RunBook

    if args.live:
        from workers.app import app
        from workers.execution.runtime import get_runtime

        rt = get_runtime()
        outcome = handle(app, args.request, run_max_usd=args.run_max_usd)
    else:
        os.environ.setdefault("LLM_ROUTER_PROVIDER_MODE", "simulated")
        from cli.demo.system import offline

        with offline(latency=0.02) as system:
            rt = system.rt
            outcome = handle(system.app, args.request, run_max_usd=args.run_max_usd)
            cost = run_cost(RunBook(rt.redis, rt.settings.namespace), rt.live.get(),
                            outcome.run_id)
            print(render(outcome, cost))
            _loop(system.app, args.loop_cap_usd)
            return 0
    cost = run_cost(RunBook(rt.redis, rt.settings.namespace), rt.live.get(), outcome.run_id)
    print(render(outcome, cost))
    _loop(app, args.loop_cap_usd)
    return 0


def _loop(app: Any, cap_usd: float) -> None:
    if cap_usd <= 0:
        return
    run_id, made, refusal = runaway(app, run_max_usd=cap_usd)
    print(f"\na looping coder under a ${cap_usd:g} run cap ({run_id}): {made} calls, then "
          f"refused:\n  {refusal}")


if __name__ == "__main__":
    sys.exit(main())
