"""`GET /metrics`: Prometheus series read from the registry at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub_assets.metrics.table import GATE_METRICS
from hub_assets.registry.observability import observed_counts
from hub_assets.registry.store import Registry


class RegistryCollector(Collector):
    """One scrape = one read-only registry query per series family."""

    def __init__(
        self, registry: Registry, health: Callable[[], dict[str, int]] | None = None
    ) -> None:
        self.registry = registry
        self.health = health  # judged models per health, under the current gate

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The series, from the registry as it is now."""
        c = self.registry.cached("prometheus", observed_counts)
        yield _gauge("hub_assets_candidates", "Models that passed discovery.", [], c["candidates"])
        yield _gauge(
            "hub_assets_models_discovered", "Models discovery has seen.", [], c["models_discovered"]
        )
        yield _gauge(
            "hub_assets_models", "Models per lifecycle status.", ["status"], c["models_by_status"]
        )
        if self.health is not None:
            yield _gauge(
                "hub_assets_model_health",
                "Judged models per health (ok, stale, at_risk, revoked).",
                ["health"],
                sorted(self.health().items()),
            )
        yield _counter(
            "hub_assets_gate_results", "Gate decisions by result.", ["result"], c["gate_results"]
        )
        yield _counter(
            "hub_assets_gate_failures",
            "Gate failures per failing metric.",
            ["metric"],
            c["gate_failures_by_metric"],
        )
        decisions = sum(n for _, n in c["gate_results"])
        failed = dict(c["gate_failures_by_metric"])
        per_metric = CounterMetricFamily(
            "hub_assets_gate_metric_results",
            "Gate decisions per gate metric: passed (at or above its threshold) or failed.",
            labels=["metric", "result"],
        )
        for metric in GATE_METRICS:
            per_metric.add_metric([metric, "failed"], failed.get(metric, 0))
            per_metric.add_metric([metric, "passed"], decisions - failed.get(metric, 0))
        yield per_metric
        yield _counter(
            "hub_assets_ingest_requests",
            "Ingest requests by outcome (or status while open).",
            ["outcome"],
            c["ingest_outcomes"],
        )
        packages = GaugeMetricFamily("hub_assets_packages", "Packages.", labels=["state"])
        size = GaugeMetricFamily(
            "hub_assets_package_bytes", "Bytes of packages.", labels=["state"], unit="bytes"
        )
        for state, n, total in c["packages"]:
            packages.add_metric([state], n)
            size.add_metric([state], total)
        yield packages
        yield size
        traffic = {
            "requests": CounterMetricFamily(
                "hub_assets_hub_requests", "Hub API requests, per pipeline stage.", labels=["stage"]
            ),
            "rate_limited": CounterMetricFamily(
                "hub_assets_hub_rate_limited", "429 answers from the Hub.", labels=["stage"]
            ),
            "bytes": CounterMetricFamily(
                "hub_assets_hub_downloaded_bytes",
                "File bytes fetched from the Hub.",
                labels=["stage"],
            ),
        }
        for stage, requests, limited, downloaded in c["hub_traffic"]:
            traffic["requests"].add_metric([stage], requests)
            traffic["rate_limited"].add_metric([stage], limited)
            traffic["bytes"].add_metric([stage], downloaded)
        yield from traffic.values()
        yield _counter(
            "hub_assets_shadow_eval_runs",
            "Shadow-evaluation runs.",
            ["task"],
            c["shadow_eval_runs"],
        )
        yield _counter(
            "hub_assets_inference_api_requests",
            "Inference-API calls of shadow evaluations, by outcome (answered, miss: over the "
            "latency budget, rate_limited: 429, error, bypassed: breaker open or quota spent).",
            ["outcome"],
            c["inference_api_requests"],
        )
        yield _counter(
            "hub_assets_inference_api_breaker_trips",
            "Times the inference API's circuit breaker opened.",
            [],
            c["inference_api_breaker_trips"],
        )
        yield _gauge(
            "hub_assets_inference_api_latency_seconds",
            "Latency of each model's latest inference-API evaluation, by quantile.",
            ["model_id", "quantile"],
            c["inference_api_latency"],
        )
        yield _gauge(
            "hub_assets_shadow_eval_score",
            "Latest shadow-evaluation score on the task's primary metric, per evaluation set.",
            ["model_id", "task", "dataset", "metric"],
            c["shadow_eval_scores"],
        )
        downloads = CounterMetricFamily(
            "hub_assets_mirror_downloads",
            "Files the mirror served (GET answered 200 or 206), per model.",
            labels=["model_id"],
        )
        sent = CounterMetricFamily(
            "hub_assets_mirror_sent_bytes",
            "File bytes the mirror sent, per model.",
            labels=["model_id"],
        )
        for model_id, n, total in c["mirror_downloads"]:
            downloads.add_metric([str(model_id)], n)
            sent.add_metric([str(model_id)], total)
        yield downloads
        yield sent
        yield _counter(
            "hub_assets_mirror_refusals",
            "Mirror requests refused, per reason (gate_failed, filtered_out, retired, "
            "revision_not_approved, unauthenticated, repo_not_found, ...).",
            ["reason"],
            c["mirror_refusals"],
        )


def _gauge(name: str, doc: str, labels: list[str], rows: list[tuple]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for *values, value in rows:
        family.add_metric([str(v) for v in values], float(value))
    return family


def _counter(name: str, doc: str, labels: list[str], rows: list[tuple]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for *values, value in rows:
        family.add_metric([str(v) for v in values], float(value))
    return family
