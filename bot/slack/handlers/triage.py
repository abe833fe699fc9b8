"""`slow` and the Re-run / Widen buttons: run the pipeline out of band and deliver the Diagnosis."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.escape import slack_escape, truncate
from bot.models import Diagnosis, TriageRequest
from bot.slack.context import BotContext
from bot.slack.handlers.target import ReplyTarget, tell
from bot.timewindow import make_window

log = logging.getLogger(__name__)


def build_request(cluster: str, collection: str | None, window: str, at: datetime | None,
                  target: ReplyTarget) -> TriageRequest:
    reply_to = {"channel": target.channel}
    if target.thread_ts:
        reply_to["thread_ts"] = target.thread_ts
    return TriageRequest(cluster=cluster, collection=collection, window=make_window(window, at),
                         trigger=target.trigger, requested_by=target.user, reply_to=reply_to)  # type: ignore[arg-type]


def diagnose_timed(ctx: BotContext, request: TriageRequest) -> Diagnosis:
    from bot.diagnosis import diagnose

    t0 = time.monotonic()
    d = ctx.run_cpu(diagnose, request, ctx.config)
    total = time.monotonic() - t0
    gather = max(d.evidence.source_seconds.values(), default=0.0)
    ctx.metrics.stage("gather", gather)
    ctx.metrics.stage("evaluate", total - gather)
    for m in d.evidence.missing:
        ctx.metrics.source_failed(m.source)
    return d


def error_text(what: str, e: BaseException) -> str:
    return f":x: {what}: {slack_escape(truncate(f'{type(e).__name__}: {e}', 400))}"


def run_triage(ctx: BotContext, request: TriageRequest, target: ReplyTarget, subcommand: str = "slow") -> None:
    """The job: diagnose, then post. Every failure ends in a message to the user."""
    from bot.slack.deliver import NOT_IN_CHANNEL, post_diagnosis

    cluster = request.cluster
    try:
        d = diagnose_timed(ctx, request)
    except Exception as e:
        log.exception("diagnosis failed for %s", cluster)
        ctx.metrics.command(subcommand, "error")
        _fail(ctx, target, error_text(f"could not diagnose `{slack_escape(cluster)}`", e))
        return
    try:
        ts = post_diagnosis(ctx, d, target.channel, target.thread_ts, update_ts=target.placeholder_ts)
        ctx.metrics.command(subcommand, "ok")
        _record(ctx, d, target.channel, target.thread_ts or ts, ts)
    except SlackApiError as e:
        code = str(e.response.get("error", "unknown"))
        if code in NOT_IN_CHANNEL and target.response_url:
            _fallback_response_url(ctx, d, target)
            ctx.metrics.command(subcommand, "fallback")
            return
        log.error("posting the diagnosis for %s failed: %s", cluster, code)
        ctx.metrics.command(subcommand, "error")
        _fail(ctx, target, f":x: the diagnosis for `{slack_escape(cluster)}` is ready but Slack refused it "
                           f"(`{slack_escape(code)}`).")
    except Exception as e:
        log.exception("posting the diagnosis for %s failed", cluster)
        ctx.metrics.command(subcommand, "error")
        _fail(ctx, target, error_text(f"could not post the diagnosis for `{slack_escape(cluster)}`", e))


def _record(ctx: BotContext, d: Diagnosis, channel: str, thread_ts: str, summary_ts: str) -> None:
    """History for handoffs, with the link to the reply; a store or Slack failure never costs the reply."""
    if ctx.store is None:
        return
    try:
        ctx.store.record_diagnosis(d, channel=channel, thread_ts=thread_ts,
                                   permalink=permalink(ctx, channel, summary_ts))
    except Exception as e:
        log.warning("could not record the diagnosis (%s)", type(e).__name__)


def permalink(ctx: BotContext, channel: str, ts: str) -> str | None:
    """The reply's link (chat.getPermalink), for handoffs; None when Slack will not give one."""
    from bot.slack.deliver import call

    try:
        return str(call(ctx, "chat.getPermalink", channel=channel, message_ts=ts)["permalink"])
    except Exception as e:  # only the link is lost, not the record
        log.info("chat.getPermalink failed (%s)", type(e).__name__)
        return None


def _fail(ctx: BotContext, target: ReplyTarget, text: str) -> None:
    if target.placeholder_ts:
        from bot.slack.deliver import call

        try:
            call(ctx, "chat.update", channel=target.channel, ts=target.placeholder_ts, text=text)
            return
        except Exception as e:
            log.warning("could not update the placeholder (%s)", type(e).__name__)
    tell(ctx, target, text)


def _fallback_response_url(ctx: BotContext, d: Diagnosis, target: ReplyTarget) -> None:
    """The bot is not in the channel: answer through the command's response_url, and say why."""
    from bot.slack.blocks import _context
    from bot.slack.deliver import render, respond_via_url

    rendered, _chart, _ = render(ctx, d)
    note = _context(":information_source: I am not a member of this channel, so I answered through the "
                    "command's response URL. Invite me (`/invite @milvus-triage`) to get the details in a "
                    "thread and the latency chart.")
    try:
        respond_via_url(ctx, target.response_url or "", rendered.text, [*rendered.summary, note],
                        response_type="in_channel")
        respond_via_url(ctx, target.response_url or "", f"{rendered.text} (details)", rendered.details,
                        response_type="in_channel")
    except Exception as e:
        log.exception("response_url fallback failed")
        tell(ctx, target, error_text("could not post the diagnosis here", e))
