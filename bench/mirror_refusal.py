"""What the re-judging benches share: how long the mirror's store takes to refuse a
revoked model (it re-reads the registry on its own clock, as `mirror serve` does)."""

from __future__ import annotations

import time

from hub_assets.errors import HubError
from hub_assets.mirror.store import ApprovedStore


def seconds_until_revoked(store: ApprovedStore, model_id: str, limit_s: float = 120) -> float:
    """Seconds from now until `store` refuses `model_id` as revoked; exits the bench after
    `limit_s`."""
    started = time.perf_counter()
    while True:
        try:
            store.repo("model", model_id)
        except HubError as e:
            if e.reason == "revoked":
                return time.perf_counter() - started
        if time.perf_counter() - started > limit_s:
            raise SystemExit(f"the mirror did not refuse the revoked model in {limit_s:.0f} s")
        time.sleep(0.05)
