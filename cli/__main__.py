"""`python -m cli`: the same as the `llm-router` command."""

from cli import main

main()
