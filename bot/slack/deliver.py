"""Posting to Slack (CONTRACT): every reply goes through here, per channel, validated, errors counted.

post_diagnosis: the short summary in the channel (or the given thread), then in its thread the
details, the chart PNG and, when the details did not fit, the full report as a file.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.charts import render_chart
from bot.models import Diagnosis
from bot.slack.blocks import RenderedDiagnosis, check_limits, render_diagnosis
from bot.slack.context import BotContext
from bot.slack.limits import MAX_FALLBACK_TEXT

log = logging.getLogger(__name__)

# Errors that mean "the bot cannot post here" (the caller falls back to response_url).
NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


def _error_code(e: SlackApiError) -> str:
    try:
        return str(e.response.get("error") or "unknown")
    except Exception:
        return "unknown"


def _why(e: Exception) -> str:
    return _error_code(e) if isinstance(e, SlackApiError) else type(e).__name__


def call(ctx: BotContext, method: str, **kwargs: Any) -> Any:
    """One Web API call with its failures counted by method and error (never logs tokens or payloads)."""
    try:
        return getattr(ctx.client, method.replace(".", "_"))(**kwargs)
    except SlackApiError as e:
        ctx.metrics.slack_error(method, _error_code(e))
        raise
    except Exception as e:
        ctx.metrics.slack_error(method, type(e).__name__)
        raise


def post_text(ctx: BotContext, channel: str, text: str, thread_ts: str | None = None) -> str:
    """Post mrkdwn `text` (callers escape log/user pieces with bot.escape.slack_escape); returns the ts."""
    def send() -> str:
        resp = call(ctx, "chat.postMessage", channel=channel, text=text[:MAX_FALLBACK_TEXT * 10],
                    thread_ts=thread_ts)
        return str(resp["ts"])
    return ctx.sender.run(channel, send)


def post_blocks(ctx: BotContext, channel: str, blocks: list[Any], text: str,
                thread_ts: str | None = None) -> str:
    """Post validated blocks (slack_sdk models + check_limits) with a fallback `text`; returns the ts."""
    dicts = check_limits(blocks)

    def send() -> str:
        resp = call(ctx, "chat.postMessage", channel=channel, text=text[:MAX_FALLBACK_TEXT], blocks=dicts,
                    thread_ts=thread_ts)
        return str(resp["ts"])
    return ctx.sender.run(channel, send)


def post_ephemeral(ctx: BotContext, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
    def send() -> None:
        call(ctx, "chat.postEphemeral", channel=channel, user=user, text=text, thread_ts=thread_ts)
    ctx.sender.run(channel, send)


def upload_file(ctx: BotContext, channel: str, thread_ts: str | None, content: bytes | str, filename: str,
                title: str) -> None:
    """files_upload_v2 with channel + thread_ts in the upload itself (files are shared asynchronously)."""
    kwargs: dict[str, Any] = {"channel": channel, "thread_ts": thread_ts, "filename": filename, "title": title}
    if isinstance(content, bytes):
        kwargs["file"] = content
    else:
        kwargs["content"] = content
    try:
        ctx.client.files_upload_v2(**kwargs)
    except SlackApiError as e:
        ctx.metrics.slack_error("files.upload_v2", _error_code(e))
        raise


def render(ctx: BotContext, d: Diagnosis, with_buttons: bool = True) -> tuple[RenderedDiagnosis, bytes | None, str]:
    t0 = time.monotonic()
    did = ctx.recent.put(d)
    try:
        grafana = ctx.config.cluster(d.request.cluster).grafana_url
    except Exception:
        grafana = None
    rendered = render_diagnosis(d, grafana_url=grafana, diagnosis_id=did, with_buttons=with_buttons)
    try:
        chart = ctx.run_cpu(render_chart, d)
    except Exception:  # a chart is a bonus; the reply must still go out
        log.exception("chart rendering failed for %s", d.request.cluster)
        chart = None
    ctx.metrics.stage("render", time.monotonic() - t0)
    return rendered, chart, did


def post_diagnosis(ctx: BotContext, diagnosis: Diagnosis, channel: str, thread_ts: str | None = None,
                   *, update_ts: str | None = None) -> str:
    """Summary message (new, in `thread_ts`'s thread, or replacing `update_ts`); details + chart + file in
    its thread. Returns the summary message ts. Raises SlackApiError when the summary cannot be posted."""
    rendered, chart, _ = render(ctx, diagnosis)
    return ctx.sender.run(channel, lambda: _send_all(ctx, diagnosis, rendered, chart, channel, thread_ts,
                                                     update_ts))


def _send_all(ctx: BotContext, d: Diagnosis, r: RenderedDiagnosis, chart: bytes | None, channel: str,
              thread_ts: str | None, update_ts: str | None) -> str:
    t0 = time.monotonic()
    if update_ts:
        call(ctx, "chat.update", channel=channel, ts=update_ts, text=r.text, blocks=r.summary)
        ts = update_ts
    else:
        resp = call(ctx, "chat.postMessage", channel=channel, text=r.text, blocks=r.summary, thread_ts=thread_ts,
                    unfurl_links=False)
        ts = str(resp["ts"])
    root = thread_ts or ts
    cluster = d.request.cluster
    # After the summary is out, a failure loses only a part: say so in the thread instead of going silent.
    problems: list[str] = []
    try:
        call(ctx, "chat.postMessage", channel=channel, thread_ts=root, text=f"{r.text} (details)",
             blocks=r.details, unfurl_links=False)
    except Exception as e:
        problems.append(f"details ({_why(e)})")
    if chart is not None:
        try:
            upload_file(ctx, channel, root, chart, f"latency-{cluster}.png", f"{cluster}: search latency by phase")
        except Exception as e:
            problems.append(f"chart ({_why(e)})")
    if r.overflow:
        try:
            upload_file(ctx, channel, root, r.overflow, r.overflow_filename, f"{cluster}: full report")
        except Exception as e:
            problems.append(f"full report file ({_why(e)})")
    if problems:
        try:
            call(ctx, "chat.postMessage", channel=channel, thread_ts=root,
                 text=f":warning: Could not post the {', '.join(problems)} for `{cluster}`.")
        except Exception:
            log.error("could not post the failure note for %s in %s", cluster, channel)
    ctx.metrics.stage("deliver", time.monotonic() - t0)
    return ts


def respond_via_url(ctx: BotContext, response_url: str, text: str, blocks: list[Any] | None = None,
                    response_type: str = "ephemeral", replace_original: bool = False) -> None:
    """Answer through a response_url (works where the bot is not a member; 5 uses within 30 minutes)."""
    from slack_sdk.webhook import WebhookClient

    from bot.slack.client import retry_handlers

    hook = WebhookClient(response_url, retry_handlers=retry_handlers())
    resp = hook.send(text=text, blocks=check_limits(blocks) if blocks else None, response_type=response_type,
                     replace_original=replace_original)
    if resp.status_code != 200:
        ctx.metrics.slack_error("response_url", str(resp.status_code))
        raise RuntimeError(f"response_url answered HTTP {resp.status_code}")
