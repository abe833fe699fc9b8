"""Escaping of text that comes from logs or users, per target format.

Slack mrkdwn: only &, < and > are control characters (Slack's "Escaping text" rules); escaping
them turns `<!channel>`, `<@U123>` and `<http://x|y>` into inert text. Backticks are broken so a
log line cannot close our code span.
"""

from __future__ import annotations

_ZWSP = "\u200b"


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(text: str) -> str:
    """Text for inside a mrkdwn `code` span or ``` block: escaped, backticks made harmless."""
    return slack_escape(text).replace("`", "\u02cb")


def markdown_escape(text: str) -> str:
    """Text for GitHub-flavoured markdown prose (not inside code)."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_{}[]<>#|!":
        out = out.replace(ch, "\\" + ch)
    return out


def markdown_code(text: str) -> str:
    """An inline code span that survives backticks inside the text."""
    longest = 0
    run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def terminal_escape(text: str) -> str:
    """Strip control characters (ANSI escapes from a log line must not drive the terminal)."""
    return "".join(ch if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127) else "\ufffd" for ch in text)


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker
