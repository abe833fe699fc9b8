"""Strict parsing of `/milvus ...` and `@milvus-triage ...` text into a Command.

Every token is accounted for: the cluster must be configured, a collection must look like a
Milvus collection name (it is checked against the live list later), a window must parse.
Error messages are already escaped for mrkdwn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import AppConfig, UnknownClusterError
from bot.escape import slack_escape, truncate
from bot.timewindow import WindowError, parse_duration, parse_time

SUBCOMMANDS = ("slow", "slowlog", "clusters", "handoff", "help")
# Milvus' own rule: a letter or underscore first, then letters, digits, underscores; at most 255.
COLLECTION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_WINDOW_RE = re.compile(r"^(?:\d+[smhdw])+$", re.IGNORECASE)
_MENTION_RE = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
MAX_TEXT = 500  # commands are short; anything longer is rejected before parsing


class CommandError(ValueError):
    """A command the user typed that cannot run; `str(e)` is safe mrkdwn for an ephemeral reply."""


@dataclass(frozen=True)
class Command:
    sub: str
    cluster: str | None = None
    collection: str | None = None
    window: str | None = None  # duration text, e.g. "30m"
    at: datetime | None = None  # end of the window; None = now
    since: datetime | None = None  # handoff: start time
    handoff_window: str | None = None  # handoff: "12h"


def _q(token: str) -> str:
    return f"`{slack_escape(truncate(token, 80))}`"


def strip_mentions(text: str, bot_user_id: str | None = None) -> str:
    """Remove the leading bot mention (and any other user mentions) from a mention's text."""
    return _MENTION_RE.sub(" ", text).strip()


def parse_command(text: str, config: AppConfig, now: datetime | None = None) -> Command:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise CommandError(f"that command is {len(text)} characters long; commands are at most {MAX_TEXT}.")
    tokens = text.split()
    if not tokens:
        return Command(sub="help")
    sub, args = tokens[0].lower(), tokens[1:]
    if sub in ("help", "-h", "--help"):
        return Command(sub="help")
    if sub == "clusters":
        _no_more(args, "clusters")
        return Command(sub="clusters")
    if sub == "handoff":
        return _parse_handoff(args, now)
    if sub in ("slow", "slowlog"):
        return _parse_triage(sub, args, config, now)
    raise UnknownSubcommand(f"unknown subcommand {_q(tokens[0])}.")


class UnknownSubcommand(CommandError):
    """Answered with the help text."""


def _no_more(args: list[str], sub: str) -> None:
    if args:
        raise CommandError(f"`{sub}` takes no arguments, but got {_q(' '.join(args))}.")


def _parse_triage(sub: str, args: list[str], config: AppConfig, now: datetime | None) -> Command:
    if not args:
        raise CommandError(f"`{sub}` needs a cluster: `{sub} <cluster> [collection] [window]`. "
                           f"Known clusters: {_known(config)}.")
    cluster = validate_cluster(args[0], config)
    collection: str | None = None
    window: str | None = None
    at: datetime | None = None
    rest = args[1:]
    i = 0
    while i < len(rest):
        tok = rest[i]
        low = tok.lower()
        if low in ("at", "--at"):
            if i + 1 >= len(rest):
                raise CommandError("`at` needs a time, e.g. `at 15:00` or `at 2026-11-24T15:00Z`.")
            at = _time(rest[i + 1], now)
            i += 2
            continue
        if _WINDOW_RE.match(tok):
            if window is not None:
                raise CommandError(f"two windows given ({_q(window)} and {_q(tok)}); give one.")
            window = validate_window(tok)
        elif collection is None and window is None:
            collection = validate_collection(tok)
        else:
            raise CommandError(f"unexpected {_q(tok)}: use `{sub} <cluster> [collection] [window] [at HH:MM]`.")
        i += 1
    return Command(sub=sub, cluster=cluster, collection=collection, window=window, at=at)


def _parse_handoff(args: list[str], now: datetime | None) -> Command:
    if not args:
        return Command(sub="handoff")
    if args[0].lower() == "since":
        if len(args) != 2:
            raise CommandError("use `handoff since 08:00` (a time, e.g. HH:MM or ISO 8601).")
        return Command(sub="handoff", since=_time(args[1], now))
    if len(args) == 1 and _WINDOW_RE.match(args[0]):
        return Command(sub="handoff", handoff_window=validate_window(args[0]))
    raise CommandError(f"unexpected {_q(' '.join(args))}: use `handoff`, `handoff 12h` or `handoff since 08:00`.")


def validate_cluster(name: str, config: AppConfig) -> str:
    try:
        return config.cluster(name).name
    except UnknownClusterError as e:
        hint = f" Did you mean `{e.suggestion}`?" if e.suggestion else ""
        raise CommandError(f"unknown cluster {_q(name)}.{hint} Known clusters: {_known(config)}.") from e


def validate_collection(name: str) -> str:
    if not COLLECTION_RE.match(name):
        raise CommandError(f"{_q(name)} is not a valid collection name (letters, digits and `_`, "
                           "starting with a letter or `_`) nor a window such as `30m`.")
    return name


def validate_window(text: str) -> str:
    try:
        parse_duration(text)
    except WindowError as e:
        raise CommandError(slack_escape(str(e)) + ".") from e
    return text.lower()


def _time(text: str, now: datetime | None) -> datetime:
    try:
        return parse_time(text, now or datetime.now(UTC))
    except WindowError as e:
        raise CommandError(slack_escape(str(e)) + ".") from e


def _known(config: AppConfig) -> str:
    return ", ".join(f"`{n}`" for n in config.cluster_names) or "(none configured)"


def help_text(command: str = "/milvus", known: list[str] | None = None) -> str:
    clusters = ", ".join(f"`{n}`" for n in known or []) or "(none configured)"
    return "\n".join([
        f"*{command}*: triage slow Milvus searches (read-only).",
        f"• `{command} slow <cluster> [collection] [window] [at HH:MM]`: metrics, slow logs and collection "
        "facts -> findings and fix steps (window default 30m, max 7d)",
        f"• `{command} slowlog <cluster> [collection] [window]`: the slow-search digest, top shapes by total time",
        f"• `{command} clusters`: configured clusters with a one-line health each",
        f"• `{command} handoff [12h | since 08:00]`: what happened since the last shift",
        f"• `{command} help`: this text",
        "Mention me with the same words inside a thread, e.g. `@milvus-triage slow prod-eu`.",
        f"Clusters: {clusters}",
    ])
