"""Two evaluations of one model compared sample by sample, with the error controlled.

- A binary per-sample metric (every score 0 or 1, e.g. exact match) is compared by
  McNemar's exact test: only the discordant samples count, and under no change each is
  equally likely to go either way (a one-sided binomial tail for "the new run is worse").
- A continuous one (F1, nDCG@10, MRR@10) by a paired bootstrap of the mean difference: the
  share of resamples in which the new run is not worse is the one-sided p-value.
- The metrics of a task are tested together, so their p-values are adjusted by Holm's
  step-down method: the chance of naming any drop when nothing changed stays ≤ alpha.
- Fewer shared samples than the minimum: "not compared", never "passed".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import comb

BOOTSTRAP_RESAMPLES = 2000
COMPARED, NOT_COMPARED = "compared", "not_compared"


def is_binary(*runs: Mapping[str, float]) -> bool:
    """Whether every per-sample score of the runs is exactly 0 or 1."""
    return all(v in (0.0, 1.0) for run in runs for v in run.values())


def mcnemar_exact(old: Mapping[str, float], new: Mapping[str, float]) -> dict:
    """McNemar's exact test on the samples both runs scored, one-sided for a drop.

    `worse`: samples right before and wrong now; `better`: the reverse. Under no change the
    `worse + better` discordant samples split as a fair coin, so p = P(X ≥ worse) for X
    binomial(worse + better, 1/2)."""
    shared = sorted(set(old) & set(new))
    worse = sum(1 for s in shared if old[s] == 1.0 and new[s] == 0.0)
    better = sum(1 for s in shared if old[s] == 0.0 and new[s] == 1.0)
    n = worse + better
    p = sum(comb(n, k) for k in range(worse, n + 1)) / 2**n if n else 1.0
    return {
        "test": "mcnemar",
        "shared": len(shared),
        "worse": worse,
        "better": better,
        "p": min(1.0, p),
        **_means(old, new, shared),
    }


def paired_bootstrap(
    old: Mapping[str, float],
    new: Mapping[str, float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict:
    """A paired bootstrap of the mean difference (new − old) over the shared samples.

    `p` is the share of resamples in which the new run is not worse (mean difference ≥ 0):
    a small value means a significant drop. With no difference at all, p is 1."""
    import numpy as np

    shared = sorted(set(old) & set(new))
    if not shared:
        return {"test": "paired_bootstrap", "shared": 0, "p": 1.0, **_means(old, new, shared)}
    diffs = np.asarray([new[s] - old[s] for s in shared], dtype=float)
    rng = np.random.default_rng(seed)
    n = diffs.size
    means = np.empty(resamples)
    step = max(1, 2_000_000 // n)  # bounded memory for large sets
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        means[start:stop] = diffs[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    # a mean of exact zeros can come out as -1e-17: compare with a tolerance
    p = float((means >= -1e-12).mean())
    return {"test": "paired_bootstrap", "shared": n, "p": p, **_means(old, new, shared)}


def _means(old: Mapping[str, float], new: Mapping[str, float], shared: Sequence[str]) -> dict:
    n = len(shared)
    if not n:
        return {"old": 0.0, "new": 0.0, "delta": 0.0}
    o = sum(old[s] for s in shared) / n
    w = sum(new[s] for s in shared) / n
    return {"old": o, "new": w, "delta": w - o}


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values: reject a metric when its adjusted p < alpha.
    Controls the family-wise error rate over the metrics, with no assumption on how they
    depend on each other."""
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    m = len(ordered)
    out, running = {}, 0.0
    for i, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return out


@dataclass(frozen=True)
class Comparison:
    """A new evaluation against the previous one: `compared` with one test per metric, or
    `not_compared` (why) when too few samples are shared."""

    status: str
    shared: int
    min_samples: int
    alpha: float
    tests: list[dict] = field(default_factory=list)  # {metric, test, p, p_holm, dropped, ...}
    reason: str = ""

    @property
    def findings(self) -> list[str]:
        """Each metric that dropped significantly (after Holm), with the size of the drop."""
        return [_finding(t, self.shared) for t in self.tests if t["dropped"]]

    @property
    def compared(self) -> bool:
        return self.status == COMPARED

    def record(self) -> dict:
        """What the registry keeps of it (`eval_runs.regression`): the status, the shared
        samples, the metrics that dropped significantly, the one-line summary."""
        return {
            "status": self.status,
            "shared": self.shared,
            "alpha": self.alpha,
            "findings": self.findings,
            "summary": self.summary(),
        }

    def summary(self) -> str:
        """One line: what was compared, and the verdict."""
        if not self.compared:
            return self.reason
        if self.findings:
            return "; ".join(self.findings)
        tests = ", ".join(f"{t['metric']} p={t['p_holm']:.3f} ({t['test']})" for t in self.tests)
        return f"no significant drop over {self.shared} paired samples ({tests}; Holm-adjusted)"


def _finding(t: dict, shared: int) -> str:
    how = (
        f"McNemar exact, {t['worse']} worse / {t['better']} better"
        if t["test"] == "mcnemar"
        else "paired bootstrap"
    )
    return (
        f"{t['metric']} dropped by {-t['delta']:.3f} ({t['old']:.3f} → {t['new']:.3f}) over "
        f"{shared} shared samples ({how}, Holm-adjusted p={t['p_holm']:.3f})"
    )


def compare_runs(
    metrics: Sequence[str],
    old_samples: Sequence[dict],
    new_samples: Sequence[dict],
    *,
    alpha: float,
    min_samples: int,
) -> Comparison:
    """Compare two evaluations' per-sample scores (`{"sample_id", "scores"}` records) on
    every metric in `metrics`: McNemar for binary metrics, a paired bootstrap for the
    others, Holm across them. A metric is a drop when its adjusted p < alpha and its mean
    fell. `alpha` and `min_samples` come from the settings (HUB_ASSETS_REGRESSION_ALPHA,
    HUB_ASSETS_REGRESSION_MIN_SAMPLES)."""
    per_metric = {}
    for metric in metrics:
        old = {s["sample_id"]: s["scores"][metric] for s in old_samples if metric in s["scores"]}
        new = {s["sample_id"]: s["scores"][metric] for s in new_samples if metric in s["scores"]}
        per_metric[metric] = (old, new)
    shared = min((len(set(o) & set(n)) for o, n in per_metric.values()), default=0)
    if shared < min_samples:
        return Comparison(
            NOT_COMPARED,
            shared,
            min_samples,
            alpha,
            reason=f"not compared: {shared} paired samples, fewer than the {min_samples} "
            "needed (HUB_ASSETS_REGRESSION_MIN_SAMPLES)",
        )
    raw = {
        m: mcnemar_exact(o, n) if is_binary(o, n) else paired_bootstrap(o, n)
        for m, (o, n) in per_metric.items()
    }
    adjusted = holm({m: r["p"] for m, r in raw.items()})
    tests = [
        {
            "metric": m,
            **r,
            "p_holm": adjusted[m],
            "dropped": r["delta"] < 0 and adjusted[m] < alpha,
        }
        for m, r in raw.items()
    ]
    return Comparison(COMPARED, shared, min_samples, alpha, tests)
