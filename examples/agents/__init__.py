"""The routing strategy's multi-agent system, built on llm-router as a user builds it.

A CEO agent (`strategic_decision`) takes a request and decides what matters; an
orchestrator (`orchestration`) plans it; coding workers (`code_generation`), one per file
of the sample repository (`sample_repo/`), propose changes in parallel (a Celery group); a
reviewer (`code_review`) reviews them; the CEO decides whether it is good enough to show
the human. Every call goes through the router with its agent, all under one run
(`attributed(run_id=...)`), so the run's cost per agent and per model comes from the
ledger. Monitoring and curation run beside it as the project's Beat crons.

    python -m examples.agents            # offline: in-process workers, simulated provider
    python -m examples.agents --live     # this deployment's Redis and workers (real keys)
"""
