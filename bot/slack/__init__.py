"""Slack adapters: triggers in (slash command, mention, button), replies out. No business logic here."""
