"""Test helpers (fake Slack, synthetic history, a runnable alert app)."""
