"""One model's Hub metadata recorded by revision: the first stage of the per-model pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from hub_assets.errors import HubUnavailableError, RepoNotFoundError
from hub_assets.hub.client import HubClient
from hub_assets.hub.repo_reads import Fetched
from hub_assets.registry.models import (
    known_models,
    mark_upstream_deleted,
    save_revision,
    upsert_models,
)
from hub_assets.registry.store import Registry


@dataclass
class RecordedMetadata:
    """The revision recorded and the metadata it came from (Hub, cache, or offline cache)."""

    sha: str
    fetched: Fetched


def record_metadata(
    client: HubClient,
    registry: Registry,
    model_id: str,
    run_id: str,
    *,
    resolve_latest: bool = False,
) -> RecordedMetadata:
    """Fetch (or read from the cache) the model's metadata and store it by revision sha.

    The revision is the one discovery recorded (pinned: the cache can never hand back an
    older one); a model discovery has not seen is read at main and recorded. With
    `resolve_latest` (an ad-hoc request, or its retry) `main` is asked again now, so a
    retry after an upstream fix judges the new revision; with the Hub unreachable the
    recorded one stands. The Hub is read before the write slot is taken."""
    registry.ensure_schema()
    with registry.read() as con:
        known = known_models(con).get(model_id)
    try:
        fetched = _fetch(client, model_id, known, resolve_latest)
    except RepoNotFoundError:
        if known is not None:  # it was there: the Hub deleted it (or hid it)
            with registry.write() as con:
                mark_upstream_deleted(con, model_id)
        raise
    with registry.write() as con:
        if known != fetched.data["info"]["sha"]:  # new, or a newer revision than recorded
            upsert_models(con, [fetched.data["info"]], run_id)
        sha = save_revision(
            con,
            model_id,
            fetched.data,
            from_cache=fetched.from_cache,
            fetched_at=fetched.fetched_at,
            run_id=run_id,
        )
    return RecordedMetadata(sha, fetched)


def _fetch(client: HubClient, model_id: str, known: str | None, resolve_latest: bool) -> Fetched:
    """The metadata at `main` now (`resolve_latest`, when the Hub answers), else at the
    recorded revision."""
    if resolve_latest and known is not None:
        try:
            latest = client.model_metadata(model_id, fresh=True)
            if not latest.offline:
                return latest
        except HubUnavailableError:
            pass
    return client.model_metadata(model_id, revision=known)
