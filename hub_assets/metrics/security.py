"""The security metric: pickle-format files scanned with picklescan, never unpickled."""

from __future__ import annotations

from collections.abc import Mapping

from hub_assets.metrics.trust import MetricResult


def security_score(scans: Mapping[str, list[dict]]) -> MetricResult:
    """From picklescan's findings per pickle file (`{"module", "name", "safety"}` each).

    1.0 no pickle file (safetensors only: nothing executes on load); 0.75 pickles whose
    imports are all innocuous (safe today, but loading pickles is a habit to avoid); 0.5 a
    suspicious import; 0.0 a dangerous one (it would run code when loaded).
    """
    inputs = {
        "scans": {
            p: sorted(f"{g['module']}.{g['name']}:{g['safety']}" for g in found)
            for p, found in scans.items()
        }
    }
    if not scans:
        return MetricResult(1.0, "no pickle files: nothing runs code on load", inputs)
    dangerous = [(p, g) for p, found in scans.items() for g in found if g["safety"] == "dangerous"]
    if dangerous:
        what = "; ".join(f"{p}: dangerous import {g['module']}.{g['name']}" for p, g in dangerous)
        return MetricResult(0.0, f"{what} (picklescan)", inputs)
    suspicious = [
        (p, g) for p, found in scans.items() for g in found if g["safety"] == "suspicious"
    ]
    if suspicious:
        what = "; ".join(f"{p}: suspicious import {g['module']}.{g['name']}" for p, g in suspicious)
        return MetricResult(0.5, f"{what} (picklescan)", inputs)
    return MetricResult(0.75, f"{len(scans)} pickle file(s), only innocuous imports", inputs)
