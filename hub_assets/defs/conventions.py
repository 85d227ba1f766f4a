"""What every asset of the project carries: owners, tags, freshness policies, and retries of
transient failures."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg

from hub_assets.hub.client import HubClient, HubUnavailableError, OfflineCacheMissError
from hub_assets.packaging.download import DownloadFailedError
from hub_assets.resources import HubResource, RegistryResource

OWNERS = ["team:ml-platform"]

# Only transient failures are retried (the Hub unreachable or rate-limited, a download cut
# short): the client has already retried each call, downloads resume, and every write is
# idempotent. A deterministic failure (not found, checksum mismatch, gate) is never retried.
TRANSIENT_RETRIES = 2
TRANSIENT_WAIT_S = 60


@contextmanager
def retry_when_transient() -> Iterator[None]:
    """Turn a transient Hub or download failure into a Dagster retry of the step."""
    try:
        yield
    except (DownloadFailedError, HubUnavailableError) as e:
        if isinstance(e, OfflineCacheMissError):
            raise
        raise dg.RetryRequested(
            max_retries=TRANSIENT_RETRIES, seconds_to_wait=TRANSIENT_WAIT_S
        ) from e


# Discovery runs daily and shadow evaluation nightly: a day and two hours late is stale.
DAILY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)


# The run tag the queued run coordinator limits by (deploy/dagster.yaml): discovery,
# per_model (the candidate pipeline), evaluation (nightly shadow evaluation, leaderboard).
LANE_TAG = "hub_assets/lane"


def lane(name: str) -> dict[str, str]:
    """The run tags of a job in lane `name` (discovery, per_model, evaluation)."""
    return {LANE_TAG: name}


def tags(domain: str) -> dict[str, str]:
    """The tags of an asset of `domain` (discovery, evaluation, trust, ingest)."""
    return {"domain": domain}


@contextmanager
def metered_client(
    context: dg.AssetExecutionContext, hub: HubResource, registry: RegistryResource, stage: str
) -> Iterator[HubClient]:
    """A Hub client whose traffic (requests, 429s, file bytes) is recorded in the registry
    for this run and stage when the block ends, failed or not: the registry service's
    Prometheus series read it from there."""
    from hub_assets.registry.observability import record_hub_traffic

    client = hub.client()
    try:
        yield client
    finally:
        if client.requests_made or client.bytes_downloaded:
            reg = registry.get()
            with reg.write() as con:
                record_hub_traffic(
                    con,
                    run_id=context.run_id,
                    stage=stage,
                    model_id=context.partition_key if context.has_partition_key else None,
                    requests=client.requests_made,
                    rate_limited=client.rate_limited,
                    bytes_downloaded=client.bytes_downloaded,
                )
