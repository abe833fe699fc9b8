"""The incident lifecycle: firing -> one diagnosis (or one "still:" line) -> one "resolved after" line.

The quick part runs where the notification arrives (a Slack listener or the webhook request): one
store statement decides whether this process owns the firing. The slow part (posting the thread
root, the diagnosis, the replies) runs on the context's executor, so Slack gets its ack in time.
Every post is reached only through a store claim that exactly one caller wins, which is what makes
replies exactly-once across retries, duplicates, both routes and replicas. The price: a process
that dies between its claim and its post loses that reply (at most once, never twice).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from datetime import UTC, datetime
from typing import Any

from bot.alerts.alertmanager import WebhookPayload, to_notification
from bot.alerts.model import AlertEvent
from bot.alerts.recognise import recognise
from bot.alerts.replies import failed_text, resolved_text, root_text, still_text
from bot.alerts.slack_message import parse_alert_message
from bot.config import AppConfig
from bot.models import Diagnosis, TimeWindow, TriageRequest
from bot.store.schema import IncidentRow
from bot.timewindow import parse_duration

log = logging.getLogger(__name__)

DiagnoseFn = Callable[[TriageRequest, AppConfig], Diagnosis]


def alert_window(ev: AlertEvent, config: AppConfig, now: datetime) -> TimeWindow:
    """From `default_window` before the alert started to now, at most `max_window` long."""
    lookback = parse_duration(config.alerts.default_window)
    cap = parse_duration(config.alerts.max_window)
    anchor = ev.starts_at or ev.observed_at
    start, end = anchor - lookback, now
    if end <= start:
        end = start + lookback
    if end - start > cap:
        start = end - cap  # the current state matters most to whoever is on call
    return TimeWindow(start=start, end=end)


class AlertHandler:
    """Turns alert notifications into incidents and thread replies. One per process (or per test)."""

    def __init__(self, ctx: Any, diagnose: DiagnoseFn | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.ctx = ctx
        self._diagnose = diagnose
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    @property
    def config(self) -> AppConfig:
        return self.ctx.config

    # ------------------------------------------------------------------ entry points

    def on_slack_event(self, event: dict[str, Any]) -> list[str]:
        """A message event from an alert channel. Returns what happened to each Milvus alert in it."""
        notification = parse_alert_message(event)
        if notification is None:
            return []
        return [self.handle(ev) for ev in recognise(notification, self.config, self._clock())]

    def on_webhook(self, payload: WebhookPayload) -> list[str]:
        return [self.handle(ev) for ev in recognise(to_notification(payload), self.config, self._clock())]

    def handle(self, ev: AlertEvent) -> str:
        store = self.ctx.store
        if store is None:
            log.error("alert %s on %s not handled: alert replies need the store (exactly-once)",
                      ev.alertname, ev.cluster)
            return self._count("no_store")
        if ev.status == "firing":
            return self._firing(ev)
        return self._resolved(ev)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait for the background work started so far (tests, shutdown). True if all finished."""
        with self._lock:
            pending = list(self._pending)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    # ------------------------------------------------------------------ firing

    def _firing(self, ev: AlertEvent) -> str:
        from bot.store import NewIncident

        incident, created = self.ctx.store.open_incident(
            NewIncident(ident=ev.ident, firing_key=ev.firing_key, cluster=ev.cluster, alertname=ev.alertname,
                        fired_at=ev.starts_at or ev.observed_at, source=ev.origin, channel=ev.channel,
                        thread_ts=ev.message_ts, group_key=ev.group_key, fingerprint=ev.fingerprint,
                        summary=(ev.summary or "")[:1000] or None, starts_known=ev.starts_at is not None),
            max_age_s=self.config.alerts.incident_max_age_s, now=self._clock())
        if not created or incident is None:
            return self._count("duplicate")
        self._submit(self._firing_work, ev, incident)
        return self._count("accepted")

    def _firing_work(self, ev: AlertEvent, incident: IncidentRow) -> None:
        store = self.ctx.store
        cluster = self.config.cluster(ev.cluster)
        channel, thread_ts = incident.channel, incident.thread_ts
        if not thread_ts:
            previous = store.previous_thread(incident.ident, exclude_id=incident.id)
            if previous:
                channel, thread_ts = previous
            else:
                channel = cluster.alert_channel or self.config.alerts.webhook_channel
                if not channel:
                    log.error("no channel for %s on %s: set alert_channel for the cluster or alerts.webhook_channel",
                              ev.alertname, ev.cluster)
                    store.set_incident_outcome(incident.id, mode="none", last_finding=None)
                    return
                thread_ts = self._post_text(channel, root_text(ev.alertname, ev.cluster,
                                                               ev.starts_at or ev.observed_at, ev.summary))
            store.set_incident_thread(incident.id, channel, thread_ts)
        assert channel is not None
        cooldown_s = cluster.cooldown_s if cluster.cooldown_s is not None else self.config.alerts.cooldown_s
        if store.claim_cooldown(ev.cluster, incident.id, cooldown_s, now=self._clock()):
            self._full(ev, incident, channel, thread_ts)
        else:
            self._still(ev, incident, channel, thread_ts)

    def _full(self, ev: AlertEvent, incident: IncidentRow, channel: str, thread_ts: str) -> None:
        store = self.ctx.store
        request = TriageRequest(cluster=ev.cluster, collection=ev.collection,
                                window=alert_window(ev, self.config, self._clock()),
                                trigger="alertmanager" if ev.origin == "alertmanager-webhook" else "alert",
                                reply_to={"channel": channel, "thread_ts": thread_ts})
        try:
            diagnosis = self._diagnose_fn()(request, self.config)
        except Exception as e:  # the thread must say so, and the next firing may try again
            log.exception("diagnosis of %s on %s failed", ev.alertname, ev.cluster)
            self._post_text(channel, failed_text(f"{type(e).__name__}: {e}"), thread_ts)
            store.release_cooldown(ev.cluster, incident.id)
            store.set_incident_outcome(incident.id, mode="failed", last_finding=None)
            return
        from bot.slack.deliver import post_diagnosis

        try:
            reply_ts: str | None = post_diagnosis(self.ctx, diagnosis, channel, thread_ts=thread_ts)
        except Exception as e:  # e.g. not_in_channel: keep the history, free the cooldown
            log.error("could not post the diagnosis of %s on %s to %s: %s", ev.alertname, ev.cluster, channel,
                      type(e).__name__)
            reply_ts = None
            store.release_cooldown(ev.cluster, incident.id)
        permalink = self._permalink(channel, reply_ts) if reply_ts else None
        store.record_diagnosis(diagnosis, channel=channel, thread_ts=thread_ts, permalink=permalink,
                               incident_id=incident.id)
        self._count("diagnosed" if reply_ts else "post_failed")

    def _still(self, ev: AlertEvent, incident: IncidentRow, channel: str, thread_ts: str) -> None:
        store = self.ctx.store
        holder = store.cooldown_holder(ev.cluster)
        finding = holder.last_finding if holder else None
        permalink = None
        if holder and holder.diagnosis_id:
            d = store.get_diagnosis(holder.diagnosis_id)
            permalink = d.permalink if d else None
        since = self._clock() - holder.created_at if holder else None
        self._post_text(channel, still_text(finding, holder.alertname if holder else None, since, permalink),
                        thread_ts)
        store.set_incident_outcome(incident.id, mode="still", last_finding=finding,
                                   diagnosis_id=holder.diagnosis_id if holder else None)
        self._count("still")

    # ------------------------------------------------------------------ resolved

    def _resolved(self, ev: AlertEvent) -> str:
        store = self.ctx.store
        resolved_at = ev.ends_at or ev.observed_at
        incident = store.resolve_incident(ident=ev.ident, resolved_at=resolved_at)
        if incident is None and ev.channel and ev.message_ts:
            # An edited alert message resolves the incident opened from that very message.
            same = store.incident_by_thread(ev.channel, ev.message_ts)
            if same is not None and same.status == "open":
                incident = store.resolve_incident(incident_id=same.id, resolved_at=resolved_at)
        if incident is None:
            return self._count("not_open")
        self._submit(self._resolved_work, incident)
        return self._count("resolving")

    def _resolved_work(self, incident: IncidentRow) -> None:
        store = self.ctx.store
        deadline = time.monotonic() + self.config.alerts.resolve_wait_s
        current = incident
        # Wait for the firing's thread and outcome, so the line can name the last finding.
        while (not current.thread_ts or current.mode is None) and time.monotonic() < deadline:
            time.sleep(0.25)
            current = store.get_incident(incident.id) or current
        if not current.thread_ts or not current.channel:
            log.warning("incident %s resolved but it has no thread to answer in", incident.id)
            return
        duration = (current.resolved_at or self._clock()) - current.fired_at
        self._post_text(current.channel, resolved_text(duration, current.last_finding), current.thread_ts)
        self._count("resolved")

    # ------------------------------------------------------------------ helpers

    def _diagnose_fn(self) -> DiagnoseFn:
        if self._diagnose is not None:
            return self._diagnose
        from bot.diagnosis import diagnose

        return diagnose

    def _post_text(self, channel: str, text: str, thread_ts: str | None = None) -> str:
        from bot.slack.deliver import post_text

        return post_text(self.ctx, channel, text, thread_ts=thread_ts)

    def _permalink(self, channel: str, ts: str | None) -> str | None:
        if not ts:
            return None
        try:
            return str(self.ctx.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except Exception as e:  # a missing link only loses the "see thread" link in later lines
            log.info("chat.getPermalink failed: %s", type(e).__name__)
            return None

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("alert work %s failed", getattr(fn, "__name__", fn))

        fut = self.ctx.executor.submit(run)
        with self._lock:
            self._pending.add(fut)
        fut.add_done_callback(self._forget)

    def _forget(self, fut: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(fut)

    def _count(self, outcome: str) -> str:
        metrics = getattr(self.ctx, "metrics", None)
        if metrics is not None and hasattr(metrics, "command"):
            metrics.command("alert", outcome)
        return outcome
