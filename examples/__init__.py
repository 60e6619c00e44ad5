"""Examples built on llm-router as a user would build them (run from the repository root)."""
