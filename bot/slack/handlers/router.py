"""Text of a command -> what to answer right away (the ack) and which job to run out of band.

Shared by /milvus and @mentions so both accept exactly the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.escape import slack_escape
from bot.slack.access import refusal
from bot.slack.context import BotContext
from bot.slack.handlers.target import ReplyTarget
from bot.slack.parse import CommandError, UnknownSubcommand, help_text, parse_command

Job = Callable[[ReplyTarget], None]


@dataclass
class Plan:
    subcommand: str
    ack_text: str  # safe mrkdwn
    ephemeral: bool  # ack only the asker (errors, refusals, help after a typo)
    job: Job | None = None  # the slow part, run on ctx.executor


def plan(ctx: BotContext, text: str, target: ReplyTarget) -> Plan:
    command = ctx.config.slack.command
    known = ctx.config.cluster_names
    try:
        cmd = parse_command(text, ctx.config)
    except UnknownSubcommand as e:
        return Plan("unknown", f"{e}\n\n{help_text(command, known)}", ephemeral=True)
    except CommandError as e:
        return Plan("invalid", f":warning: {e}", ephemeral=True)

    if cmd.sub == "help":
        return Plan("help", help_text(command, known), ephemeral=True)
    if cmd.sub == "clusters":
        from bot.slack.handlers.clusters import run_clusters

        return Plan("clusters", "checking the clusters: Prometheus, p99, Milvus…", ephemeral=True,
                    job=lambda t: run_clusters(ctx, t))
    if cmd.sub == "handoff":
        from bot.slack.handlers.handoff import run_handoff

        return Plan("handoff", "building the handoff…", ephemeral=True,
                    job=lambda t: run_handoff(ctx, cmd.since, cmd.handoff_window, t))

    assert cmd.cluster is not None
    cluster = ctx.config.cluster(cmd.cluster)
    why = refusal(cluster, target.channel, target.user)
    if why:
        return Plan(cmd.sub, why, ephemeral=True)
    window = cmd.window or ctx.config.slack.default_window
    what = f"`{slack_escape(cluster.name)}`" + (f" / `{slack_escape(cmd.collection)}`" if cmd.collection else "")

    def make_request(t: ReplyTarget):
        from bot.slack.handlers.triage import build_request

        return build_request(cluster.name, cmd.collection, window, cmd.at, t)

    if cmd.sub == "slowlog":
        from bot.slack.handlers.slowlog import run_slowlog

        return Plan("slowlog", f":mag: reading the slow log of {what} over {window}…", ephemeral=False,
                    job=lambda t: run_slowlog(ctx, make_request(t), t))

    from bot.slack.handlers.triage import run_triage

    return Plan("slow", f":mag: checking {what} over {window}: metrics, slow logs, collections…",
                ephemeral=False, job=lambda t: run_triage(ctx, make_request(t), t, "slow"))
