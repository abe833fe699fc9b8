"""Per-cluster allow-lists (ClusterConfig.access). Empty lists mean everyone."""

from __future__ import annotations

from bot.config import ClusterConfig


def refusal(cluster: ClusterConfig, channel: str | None, user: str | None) -> str | None:
    """None when allowed, else a reason (mrkdwn) that says why and what to do."""
    acc = cluster.access
    if acc.channels and channel not in acc.channels:
        where = ", ".join(f"<#{c}>" for c in acc.channels)
        return (f":no_entry: `{cluster.name}` can only be asked about in {where}. "
                "Ask there, or have an owner add this channel to `access.channels` in clusters.yaml.")
    if acc.users and user not in acc.users:
        return (f":no_entry: you are not on the list of people who may ask about `{cluster.name}`. "
                "Ask an owner to add your Slack user id to `access.users` in clusters.yaml.")
    return None


def allowed(cluster: ClusterConfig, channel: str | None, user: str | None) -> bool:
    return refusal(cluster, channel, user) is None
