"""Who pulled what through the mirror, and who was refused what: `hub-assets usage` and
`GET /mirror/usage` read the access log (`registry/mirror_usage.py`) through here."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hub_assets.ids import check_model_id
from hub_assets.registry.mirror_usage import mirror_refusals, mirror_usage
from hub_assets.registry.store import Registry

_AGO = re.compile(r"^(\d{1,6})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def since_of(text: str, now: datetime | None = None) -> datetime:
    """A point in time from `7d`, `24h`, `30m`, `2w` (that long ago) or an ISO date or
    time (UTC when it names no zone); a ValueError saying what is accepted otherwise."""
    text = text.strip()
    now = now or datetime.now(UTC)
    ago = _AGO.match(text.lower())
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give a duration ago (30m, 24h, 7d, 2w) or an ISO date "
            "or time (2026-12-01, 2026-12-01T08:00:00Z)."
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def usage_report(
    registry: Registry,
    *,
    model_id: str | None = None,
    since: datetime | None = None,
    caller: str | None = None,
    limit: int = 1000,
) -> dict:
    """Downloads per (caller, model, revision served) and refusals per (caller, model,
    revision asked, reason), newest first, as the filters select."""
    if model_id is not None:
        check_model_id(model_id)
    kw = {"model_id": model_id, "since": since, "caller": caller, "limit": limit}
    with registry.read() as con:
        return {
            "since": since.isoformat().replace("+00:00", "Z") if since else None,
            "model_id": model_id,
            "caller": caller,
            "downloads": mirror_usage(con, **kw),
            "refusals": mirror_refusals(con, **kw),
        }
