"""`python -m examples.agents [--redis-url URL --namespace NS] [--json]`

Offline by default: everything in this process (the demo's in-process system: fakeredis, an
in-memory broker, one worker per tier, the simulated provider), no Redis and no keys. With
`--redis-url` it sends to a real Redis whose workers serve the namespace (`--namespace`,
the demo's rule: never a deployment's): with provider keys in the workers' environment the
agents run for real.
"""

from __future__ import annotations

import argparse
import sys

from cli.demo.system import against_redis, offline
from examples.agents.report import summary, text
from examples.agents.run import as_json, play


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.agents", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", help="a Redis whose workers serve --namespace")
    parser.add_argument("--namespace", default="llm-router-agents",
                        help="with --redis-url: the namespace to play in")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for each answer")
    parser.add_argument("--latency", type=float, default=0.02,
                        help="offline: the simulated provider's seconds per call")
    parser.add_argument("--run-max-usd", type=float,
                        help="the run's cap: its first call over it is refused, and the rest")
    args = parser.parse_args(argv)
    system = (against_redis(args.redis_url, args.namespace) if args.redis_url
              else offline(latency=args.latency))
    with system as s:
        played = play(s, timeout=args.timeout, max_usd=args.run_max_usd)
        config = s.rt.live.get()
    if args.json:
        import json

        print(json.dumps({"summary": summary(played, config),
                          "played": json.loads(as_json(played))}))
    else:
        print(text(played, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
