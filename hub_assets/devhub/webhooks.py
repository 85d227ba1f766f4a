"""The development Hub's webhooks: after each commit to a model, a `repo.content` update
(and after a deletion, a `repo` delete) in the Hub's payload shape (version 3, as
huggingface_hub's `WebhookPayload` parses it) is POSTed to each target with the secret in
`X-Webhook-Secret`, as the Hub sends it.

Deliveries run on a thread of their own (the commit does not wait), with a few retries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from hub_assets.hub_protocol.repos import Repo

log = logging.getLogger("hub_assets.devhub.webhooks")


@dataclass
class WebhookTarget:
    """Where to send, with which secret; what was sent, and the answers."""

    url: str
    secret: str
    sent: list[dict] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)


def content_update(hub_url: str, repo: Repo, branch: str, old: str | None, new: str) -> dict:
    """A `repo.content` update payload, as the Hub sends it after a push."""
    repo_id = repo.repo_id
    owner = repo_id.split("/")[0]
    return {
        "event": {"action": "update", "scope": "repo.content"},
        "repo": {
            "type": repo.repo_type,
            "name": repo_id,
            "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "private": bool(repo.meta.get("private", False)),
            "headSha": new,
            "owner": {"id": hashlib.sha1(owner.encode()).hexdigest()[:24]},
            "url": {
                "web": f"{hub_url}/{repo_id}",
                "api": f"{hub_url}/api/{repo.repo_type}s/{repo_id}",
            },
        },
        "updatedRefs": [{"ref": f"refs/heads/{branch}", "oldSha": old, "newSha": new}],
        "webhook": {"id": "devhub-webhook", "version": 3},
    }


def repo_deletion(hub_url: str, repo: Repo) -> dict:
    """A `repo` delete payload, as the Hub sends it when a repo is deleted."""
    payload = content_update(hub_url, repo, "main", None, "0" * 40)
    payload["event"] = {"action": "delete", "scope": "repo"}
    del payload["updatedRefs"]
    payload["repo"].pop("headSha")
    return payload


class HubWebhooks:
    """A catalog commit listener that sends the Hub's webhooks to `targets`."""

    def __init__(self, hub_url: str, targets: list[WebhookTarget], retries: int = 3) -> None:
        self.hub_url, self.targets, self.retries = hub_url, targets, retries

    def __call__(self, repo: Repo, branch: str, old: str | None, new: str) -> None:
        payload = content_update(self.hub_url, repo, branch, old, new)
        for target in self.targets:
            threading.Thread(target=self._send, args=(target, payload), daemon=True).start()

    def deleted(self, repo: Repo) -> None:
        """After a repo is deleted: the `repo` delete webhook to every target."""
        payload = repo_deletion(self.hub_url, repo)
        for target in self.targets:
            threading.Thread(target=self._send, args=(target, payload), daemon=True).start()

    def _send(self, target: WebhookTarget, payload: dict) -> None:
        body = json.dumps(payload).encode()
        for attempt in range(self.retries):
            request = urllib.request.Request(
                target.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "X-Webhook-Secret": target.secret},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - a loopback URL the caller gave
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError as e:
                log.warning("Webhook to %s failed: %s", target.url, e)
                status = 0
            target.sent.append(payload)
            target.answers.append(status)
            if 200 <= status < 300 or 400 <= status < 500:
                return
            time.sleep(0.5 * 2**attempt)
