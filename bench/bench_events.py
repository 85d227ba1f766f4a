"""Events out under faults: a burst of lifecycle events delivered to a real receiver by the
`hub-assets events deliver` process, which is SIGKILLed in the middle of the burst while
the receiver then goes down and comes back.

Prints:
- `lost=`, `reordered=` (target 0 and 0) and `duplicates=` (resent after the kill, each with
  its original webhook-id);
- `recovery_s=`: from the receiver's return to the last event delivered;
- `delivery_rate=` events/s of the deliverer on a healthy receiver (signed, in order, the
  cursor kept in the registry), against `post_rate=`: the same bodies POSTed bare in a
  loop, in the same run; `ratio_vs_bare_posts=`.

Usage: python bench/bench_events.py [--tiny]
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2  # noqa: E402

from hub_assets.pipeline.events import EventDeliverer  # noqa: E402
from hub_assets.registry.models import append_statuses  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402
from hub_assets_tests.local_servers import WebhookReceiver, free_port  # noqa: E402

TINY = "--tiny" in sys.argv
EVENTS = 60 if TINY else 500
MODELS = [f"acme/model-{i}" for i in range(10)]
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
BIN = Path(sys.executable).parent


def burst(registry: Registry, rounds: range) -> None:
    for r in rounds:
        with registry.write() as con:
            append_statuses(con, [(m, "candidate", None, None) for m in MODELS], run_id=str(r))


def wait(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.02)


def steady(folder: Path) -> tuple[float, float]:
    """(deliverer events/s, bare POSTs/s) on a healthy receiver."""
    registry = Registry(folder / "steady.duckdb")
    registry.ensure_schema()
    receiver = WebhookReceiver(free_port())
    receiver.start()
    url = receiver.url
    deliverer = EventDeliverer(registry, [url], SECRET, retry_s=1, retry_max_s=1, timeout_s=5)
    deliverer.deliver_due()
    burst(registry, range(EVENTS // len(MODELS)))
    time.sleep(1.1)  # settled
    start = time.perf_counter()
    while len(receiver.ids()) < EVENTS:
        deliverer.deliver_due()
    rate = EVENTS / (time.perf_counter() - start)
    deliverer.close()
    body = b'{"type":"model.candidate"}'
    with httpx2.Client() as client:
        start = time.perf_counter()
        for i in range(EVENTS):
            client.post(url, content=body, headers={"webhook-id": f"evt_{i}"})
        bare = EVENTS / (time.perf_counter() - start)
    receiver.stop()
    return rate, bare


def faults(folder: Path) -> dict:
    registry = Registry(folder / "faults.duckdb")
    registry.ensure_schema()
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        "HUB_ASSETS_REGISTRY": str(registry.path),
        "HUB_ASSETS_WEBHOOK_URLS": WebhookReceiver(port).url,
        "HUB_ASSETS_WEBHOOK_SECRET": SECRET,
        "HUB_ASSETS_WEBHOOK_RETRY_S": "0.05",
        "HUB_ASSETS_WEBHOOK_RETRY_MAX_S": "0.4",
    }
    command = [str(BIN / "hub-assets"), "events", "deliver", "--idle", "0.05"]
    subprocess.run([*command[:3], "--once"], env=env, check=True, capture_output=True)
    receiver = WebhookReceiver(port)
    receiver.start()
    rounds = EVENTS // len(MODELS)
    first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    burst(registry, range(rounds // 2))
    wait(lambda: len(receiver.ids()) >= EVENTS // 8, 60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    receiver.stop()
    burst(registry, range(rounds // 2, rounds))
    second = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # it fails against the dead receiver and backs off
    receiver.start()
    back = time.perf_counter()
    wait(lambda: len(set(receiver.ids())) >= EVENTS, 120)
    recovery = time.perf_counter() - back
    second.send_signal(signal.SIGTERM)
    second.wait(20)
    receiver.stop()
    first_seen = list(dict.fromkeys(receiver.ids()))
    return {
        "lost": EVENTS - len(set(receiver.ids())),
        "reordered": sum(1 for a, b in zip(first_seen, first_seen[1:], strict=False) if b < a),
        "duplicates": len(receiver.ids()) - len(set(receiver.ids())),
        "recovery_s": recovery,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        outcome = faults(folder)
        rate, bare = steady(folder)
    print(f"events={EVENTS} (SIGKILL mid-burst, receiver down then back)")
    print(f"lost={outcome['lost']} reordered={outcome['reordered']}")
    print(f"duplicates={outcome['duplicates']} (same webhook-id)")
    print(f"recovery_s={outcome['recovery_s']:.2f}")
    print(f"delivery_rate={rate:.0f}/s post_rate={bare:.0f}/s")
    print(f"ratio_vs_bare_posts={rate / bare:.2f}")
    if outcome["lost"] or outcome["reordered"]:
        raise SystemExit("events were lost or reordered")


if __name__ == "__main__":
    main()
