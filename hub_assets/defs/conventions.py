"""What every asset of the project carries: owners, tags, retry and freshness policies."""

from datetime import timedelta

import dagster as dg

OWNERS = ["team:ml-platform"]

# Safe to retry: Hub calls are retried inside the client too, downloads resume, every write
# is idempotent (fingerprints, cache keys, unique package versions).
HUB_RETRY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

# Discovery runs daily and shadow evaluation nightly: a day and two hours late is stale.
DAILY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)


def tags(domain: str) -> dict[str, str]:
    """The tags of an asset of `domain` (discovery, evaluation, trust, ingest)."""
    return {"domain": domain}
