"""Subcommand handlers: turn a parsed command into an immediate acknowledgement and an out-of-band job."""
