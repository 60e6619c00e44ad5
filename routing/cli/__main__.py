"""`python -m routing.cli`: the same as the `llm-router` command."""

from routing.cli import main

main()
