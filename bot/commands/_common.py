"""Helpers shared by CLI commands: loading config and turning errors into exit code 2."""

from __future__ import annotations

import sys

from bot.config import AppConfig, ConfigError, load_config


def load_or_exit(path: str | None) -> AppConfig:
    try:
        return load_config(path)
    except ConfigError as e:
        print(f"milvus-triage: {e}", file=sys.stderr)
        raise SystemExit(2) from e
