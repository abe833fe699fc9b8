"""Where a reply goes, and the one helper that tells the user something (never a silent failure)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from bot.slack.context import BotContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyTarget:
    channel: str
    user: str | None
    thread_ts: str | None = None  # reply inside this thread (mentions, buttons)
    response_url: str | None = None  # slash commands and buttons
    placeholder_ts: str | None = None  # a "checking…" message to replace with the result
    trigger: str = "slash_command"  # TriageRequest.trigger

    def with_placeholder(self, ts: str | None) -> ReplyTarget:
        return replace(self, placeholder_ts=ts)


def tell(ctx: BotContext, target: ReplyTarget, text: str, ephemeral: bool = True) -> None:
    """Show `text` (safe mrkdwn) to the user: ephemeral where possible, else in the thread/channel."""
    from bot.slack.deliver import post_ephemeral, post_text, respond_via_url

    attempts = []
    if ephemeral and target.response_url:
        attempts.append(lambda: respond_via_url(ctx, target.response_url or "", text))
    if ephemeral and target.user:
        attempts.append(lambda: post_ephemeral(ctx, target.channel, target.user or "", text, target.thread_ts))
    attempts.append(lambda: post_text(ctx, target.channel, text, target.thread_ts))
    for attempt in attempts:
        try:
            attempt()
            return
        except Exception as e:
            log.warning("could not tell the user (%s); trying the next way", type(e).__name__)
    log.error("could not reach the user in %s by any means", target.channel)


def reply_blocks(ctx: BotContext, target: ReplyTarget, blocks: list[dict], text: str,
                 files: list[tuple[bytes | str, str, str]] | None = None) -> str | None:
    """Post validated blocks where the target says (replacing the placeholder if any), then attach files
    in the thread. Falls back to response_url when the bot is not in the channel. Returns the ts."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.deliver import NOT_IN_CHANNEL, call, respond_via_url, upload_file
    from bot.slack.limits import check_limits

    dicts = check_limits(blocks)

    def send() -> str:
        if target.placeholder_ts:
            call(ctx, "chat.update", channel=target.channel, ts=target.placeholder_ts, text=text, blocks=dicts)
            ts = target.placeholder_ts
        else:
            resp = call(ctx, "chat.postMessage", channel=target.channel, text=text, blocks=dicts,
                        thread_ts=target.thread_ts, unfurl_links=False)
            ts = str(resp["ts"])
        for content, filename, title in files or []:
            upload_file(ctx, target.channel, target.thread_ts or ts, content, filename, title)
        return ts

    try:
        return ctx.sender.run(target.channel, send)
    except SlackApiError as e:
        code = str(e.response.get("error", "unknown"))
        if code in NOT_IN_CHANNEL and target.response_url:
            note = {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                ":information_source: I am not a member of this channel, so I answered through the command's "
                "response URL; invite me (`/invite @milvus-triage`) for threads and attachments.")}]}
            respond_via_url(ctx, target.response_url, text, [*dicts, note][-50:], response_type="in_channel")
            return None
        raise
