"""The short texts the alert side posts itself (the diagnosis is rendered by bot.slack.deliver).

Everything that came from an alert or a finding is escaped for Slack mrkdwn.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.escape import slack_escape, truncate

MAX_LINE = 600


def human_duration(delta: timedelta) -> str:
    """'45 s', '23 min', '1 h 05 min', '2 d 3 h'."""
    s = max(0, int(delta.total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {(s % 3600) // 60:02d} min"
    return f"{s // 86400} d {(s % 86400) // 3600} h"


def _link(url: str | None, label: str) -> str:
    # Slack link syntax: the URL must not carry | or >; our permalinks never do, but be strict.
    if url and "|" not in url and ">" not in url and url.startswith("https://"):
        return f"<{url}|{label}>"
    return label


def root_text(alertname: str, cluster: str, since: datetime, summary: str | None) -> str:
    """The thread root a webhook notification gets in the cluster's alert channel."""
    line = f":rotating_light: *{slack_escape(alertname)}* firing on *{slack_escape(cluster)}* since {since:%H:%M} UTC"
    if summary:
        line += f": {slack_escape(truncate(summary, 300))}"
    return line


def still_text(last_finding: str | None, holder_alert: str | None, since: timedelta | None,
               permalink: str | None) -> str:
    """The one line a firing within the cluster's cooldown gets instead of a full diagnosis."""
    if last_finding:
        what = slack_escape(truncate(last_finding, 300))
    else:
        what = "the diagnosis started moments ago is still running"
    ref = f"diagnosed {human_duration(since)} ago" if since is not None else "diagnosed recently"
    if holder_alert:
        ref += f" for {slack_escape(holder_alert)}"
    return truncate(f"still: {what} ({_link(permalink, ref)})", MAX_LINE)


def resolved_text(duration: timedelta, last_finding: str | None) -> str:
    finding = slack_escape(truncate(last_finding, 300)) if last_finding else "none recorded"
    return truncate(f":white_check_mark: resolved after {human_duration(duration)}; last finding: {finding}", MAX_LINE)


def failed_text(error: str) -> str:
    return truncate(f":warning: could not diagnose this alert: {slack_escape(error)}", MAX_LINE)
