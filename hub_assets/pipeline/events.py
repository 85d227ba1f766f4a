"""Events out: every lifecycle change POSTed to each configured webhook URL, at least once,
in order, signed as Standard Webhooks sign them.

- **The outbox is the lifecycle log.** `model_status_events` rows are written in the
  transaction of the change they report, so an event is sent exactly when its change
  committed; nothing is queued in memory.
- **In order.** Each endpoint receives events in `event_id` order (so in order per model):
  an event is sent only once every earlier one was acknowledged (any 2xx). A receiver
  that is down holds its own stream only.
- **At least once.** The cursor moves after the receiver's 2xx; a deliverer killed in
  between sends that event again on restart, with the same `webhook-id` (`evt_<id>`), the
  idempotency key a receiver deduplicates on.
- **Back-off across restarts.** A failed attempt sets the next one at
  `retry_s * 2^(n-1)` (at most `retry_max_s`), kept in the registry.
- **Signed.** `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, with
  `webhook-id` and `webhook-timestamp` (the Standard Webhooks headers).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx2
from standardwebhooks import Webhook

from hub_assets import __version__
from hub_assets.errors import HubAssetsError, SettingsError
from hub_assets.registry.events import (
    LifecycleEvent,
    cursor_of,
    delivery_log,
    events_after,
    find_cursor,
    recent_events,
    record_delivery,
    rewind,
)
from hub_assets.registry.identity import record_audit
from hub_assets.registry.store import Registry
from hub_assets.settings import Settings

log = logging.getLogger("hub_assets.events")
# A writer that took an event id may still be committing: events younger than this are
# left for the next pass, so a lower id is never skipped (PostgreSQL hands out ids before
# commit).
SETTLE_S = 1.0
_BODY_LIMIT = 4096  # of a receiver's answer, read for the delivery log only
_RECORD_EVERY = 25  # acknowledged events recorded per registry write


def event_type(status: str) -> str:
    """The event's type as receivers filter on it: `model.<lifecycle status>`."""
    return f"model.{status}"


def event_body(event: LifecycleEvent) -> str:
    """The JSON body of one event (the Standard Webhooks shape: type, timestamp, data)."""
    return json.dumps(
        {
            "type": event_type(event.status),
            "timestamp": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": {
                "event_id": event.event_id,
                "model_id": event.model_id,
                "status": event.status,
                "revision_sha": event.revision_sha,
                "reason": event.reason,
                "run_id": event.run_id,
            },
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def event_id_header(event_id: int) -> str:
    """The idempotency key a receiver deduplicates on (the same on every attempt)."""
    return f"evt_{event_id}"


@dataclass
class DeliveryPass:
    """What one pass over the endpoints did."""

    delivered: int = 0
    failed: int = 0


class EventDeliverer:
    """Delivers the lifecycle events to each endpoint in order, at least once."""

    def __init__(
        self,
        registry: Registry,
        endpoints: Sequence[str],
        secret: str,
        *,
        retry_s: float,
        retry_max_s: float,
        timeout_s: float,
        batch: int = 100,
    ) -> None:
        self.registry, self.endpoints = registry, list(endpoints)
        self.signer = Webhook(secret)
        self.retry_s, self.retry_max_s, self.batch = retry_s, retry_max_s, batch
        self.http = httpx2.Client(timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def deliver_due(self) -> DeliveryPass:
        """One pass: for each endpoint whose back-off has passed, send its next events in
        order until one fails or none is left."""
        done = DeliveryPass()
        for endpoint in self.endpoints:
            self._deliver_to(endpoint, done)
        return done

    def _deliver_to(self, endpoint: str, done: DeliveryPass) -> None:
        with self.registry.read() as con:
            cursor = find_cursor(con, endpoint)
        if cursor is None:
            with self.registry.write() as con:
                cursor = cursor_of(con, endpoint)
        if cursor.next_attempt_at is not None and cursor.next_attempt_at > datetime.now(UTC):
            return
        settled = datetime.now(UTC) - timedelta(seconds=SETTLE_S)
        with self.registry.read() as con:
            pending = events_after(con, cursor.delivered_through, self.batch, settled)
        attempts, acknowledged = cursor.attempts, []
        for event in pending:
            status, error = self._post(endpoint, event)
            if status is not None and 200 <= status < 300:
                acknowledged.append((event.event_id, status))
                done.delivered += 1
                attempts = 0
                if len(acknowledged) >= _RECORD_EVERY:
                    self._record(endpoint, acknowledged)
                    acknowledged = []
                continue
            wait = min(self.retry_max_s, self.retry_s * 2**attempts)
            log.warning(
                "Event %s to %s failed (%s); next try in %.1f s",
                event.event_id,
                endpoint,
                error,
                wait,
            )
            failure = (event.event_id, status, error, datetime.now(UTC) + timedelta(seconds=wait))
            self._record(endpoint, acknowledged, failure)
            done.failed += 1
            return
        self._record(endpoint, acknowledged)

    def _record(self, endpoint: str, acknowledged: list, failure: tuple | None = None) -> None:
        """Move the cursor past the acknowledged events and log them (and a failure), in
        one write: a kill before it sends them again, with the same ids."""
        if not acknowledged and failure is None:
            return
        with self.registry.write() as con:
            for event_id, status in acknowledged:
                record_delivery(
                    con,
                    endpoint,
                    event_id,
                    delivered=True,
                    status=status,
                    error=None,
                    retry_at=None,
                )
            if failure is not None:
                event_id, status, error, retry_at = failure
                record_delivery(
                    con,
                    endpoint,
                    event_id,
                    delivered=False,
                    status=status,
                    error=error,
                    retry_at=retry_at,
                )

    def _post(self, endpoint: str, event: LifecycleEvent) -> tuple[int | None, str | None]:
        body = event_body(event)
        msg_id = event_id_header(event.event_id)
        at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": f"hub-assets/{__version__}",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, at, body),
        }
        try:
            with self.http.stream("POST", endpoint, content=body, headers=headers) as r:
                answer = b""
                for chunk in r.iter_bytes():
                    answer += chunk
                    if len(answer) >= _BODY_LIMIT:
                        break
        except httpx2.HTTPError as e:
            return None, f"{type(e).__name__}: {e}"[:300]
        if 200 <= r.status_code < 300:
            return r.status_code, None
        text = answer[:200].decode("utf-8", "replace")
        return r.status_code, f"HTTP {r.status_code}: {text}"

    def run(self, stop: threading.Event, idle_s: float = 0.5) -> None:
        """Deliver until `stop` is set, a pass every `idle_s` when there is nothing to do."""
        while not stop.is_set():
            try:
                done = self.deliver_due()
            except HubAssetsError as e:  # the registry locked too long: the next pass retries
                log.warning("An event delivery pass failed (%s); trying again", e)
                done = DeliveryPass()
            if done.delivered == 0:
                stop.wait(idle_s)


def deliverer_from(registry: Registry, settings: Settings) -> EventDeliverer:
    """The deliverer the settings configure (`HUB_ASSETS_WEBHOOK_*`)."""
    if not settings.webhook_urls or settings.webhook_secret is None:
        raise SettingsError(
            "No webhook to deliver to: set HUB_ASSETS_WEBHOOK_URLS and "
            "HUB_ASSETS_WEBHOOK_SECRET (docs/operations.md, Events out)."
        )
    return EventDeliverer(
        registry,
        settings.webhook_urls,
        settings.webhook_secret.get_secret_value(),
        retry_s=settings.webhook_retry_s,
        retry_max_s=settings.webhook_retry_max_s,
        timeout_s=settings.webhook_timeout_s,
    )


def event_list(
    registry: Registry, model_id: str | None, limit: int
) -> list[tuple[LifecycleEvent, dict[str, bool]]]:
    """The newest events, each with which endpoints acknowledged it."""
    with registry.read() as con:
        return recent_events(con, model_id, limit)


def deliveries(registry: Registry, endpoint: str | None, limit: int) -> list[tuple]:
    """The newest delivery attempts (the delivery log)."""
    with registry.read() as con:
        return delivery_log(con, endpoint, limit)


def replay(registry: Registry, since_event_id: int, endpoint: str | None, by: str | None) -> list:
    """Send every event from `since_event_id` on again, in order, with their own ids
    (receivers deduplicate), to one endpoint or all; audited. The endpoints rewound."""
    with registry.write() as con:
        rewound = rewind(con, endpoint, since_event_id)
        record_audit(
            con,
            username=by,
            action="events_replay",
            target=endpoint or "all endpoints",
            outcome="ok" if rewound else "not_found",
            detail=f"from event {since_event_id}: {len(rewound)} endpoint(s)",
        )
    return rewound
