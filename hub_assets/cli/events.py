"""`hub-assets events`: the lifecycle events the registry sends to webhooks, their
delivery log, a replay, and the deliverer itself."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from hub_assets.cli.browse import table
from hub_assets.cli.registry import open_registry
from hub_assets.cli.startup import settings_or_exit
from hub_assets.errors import HubAssetsError, exit_code


def _fail(e: HubAssetsError) -> None:
    click.echo(str(e), err=True)
    sys.exit(exit_code(e.outcome))


@click.group()
def events() -> None:
    """Lifecycle events sent to webhooks (docs/operations.md, Events out)."""


@events.command("list")
@click.option("--model", "model_id", help="One model's events only.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
def events_list(model_id: str | None, limit: int) -> None:
    """The newest events, and which endpoints acknowledged each."""
    from hub_assets.pipeline.events import event_id_header, event_list, event_type

    try:
        rows = event_list(open_registry(settings_or_exit()), model_id, limit)
    except HubAssetsError as e:
        _fail(e)
    if not rows:
        click.echo("No lifecycle event yet.")
        return
    click.echo(
        table(
            ["id", "at", "type", "model", "revision", "delivered"],
            [
                [
                    event_id_header(e.event_id),
                    f"{e.created_at:%Y-%m-%d %H:%M:%S}",
                    event_type(e.status),
                    e.model_id,
                    (e.revision_sha or "")[:12],
                    ", ".join(f"{'yes' if ok else 'pending'} {url}" for url, ok in acks.items())
                    or "(no endpoint)",
                ]
                for e, acks in rows
            ],
        )
    )


@events.command("log")
@click.option("--endpoint", help="One endpoint's attempts only.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
def events_log(endpoint: str | None, limit: int) -> None:
    """The delivery log: every attempt, its answer and error, newest first."""
    from hub_assets.pipeline.events import deliveries, event_id_header

    try:
        rows = deliveries(open_registry(settings_or_exit()), endpoint, limit)
    except HubAssetsError as e:
        _fail(e)
    if not rows:
        click.echo("No delivery attempt yet.")
        return
    click.echo(
        table(
            ["at", "endpoint", "event", "attempt", "result", "error"],
            [
                [
                    f"{at:%Y-%m-%d %H:%M:%S}",
                    url,
                    event_id_header(event_id),
                    attempt,
                    "delivered" if ok else f"failed ({status or 'no answer'})",
                    (error or "")[:80],
                ]
                for at, url, event_id, attempt, ok, status, error in rows
            ],
        )
    )


@events.command("replay")
@click.option("--since", "since_id", required=True, type=click.IntRange(1), help="Event id.")
@click.option("--endpoint", help="Only this endpoint (default: every one).")
@click.option("--user", default="cli", show_default=True, help="Who replays (audit).")
def events_replay(since_id: int, endpoint: str | None, user: str) -> None:
    """Send every event from --since on again, in order and with their own ids (receivers
    deduplicate on webhook-id); the running deliverer picks them up."""
    from hub_assets.pipeline.events import replay

    try:
        rewound = replay(open_registry(settings_or_exit()), since_id, endpoint, user)
    except HubAssetsError as e:
        _fail(e)
    if not rewound:
        click.echo(f"No endpoint {endpoint or ''} has had events yet.", err=True)
        sys.exit(exit_code("not_found"))
    click.echo(f"Replaying from evt_{since_id} to {', '.join(rewound)}.")


@events.command("deliver")
@click.option("--once", is_flag=True, help="One pass, then exit (a cron job).")
@click.option("--idle", default=1.0, show_default=True, type=click.FloatRange(0.05, 60))
def events_deliver(once: bool, idle: float) -> None:
    """Deliver events to HUB_ASSETS_WEBHOOK_URLS until stopped (SIGTERM or Ctrl-C)."""
    from hub_assets.pipeline.events import deliverer_from

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = settings_or_exit()
    try:
        deliverer = deliverer_from(open_registry(settings), settings)
    except HubAssetsError as e:
        _fail(e)
    try:
        if once:
            done = deliverer.deliver_due()
            click.echo(f"Delivered {done.delivered} event(s); {done.failed} failed.")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"Delivering events to {len(deliverer.endpoints)} endpoint(s).", err=True)
        try:
            deliverer.run(stop, idle)
        except KeyboardInterrupt:
            pass
    finally:
        deliverer.close()
