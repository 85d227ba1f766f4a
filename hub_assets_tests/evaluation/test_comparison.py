"""The regression check's statistics: McNemar's exact test, the paired bootstrap, Holm's
correction, the minimum of compared samples, and their error rates on synthetic paired
data with known effects."""

import numpy as np

from hub_assets.evaluation.comparison import (
    compare_runs,
    holm,
    is_binary,
    mcnemar_exact,
    paired_bootstrap,
)


def samples(**metrics):
    """Per-sample records as the registry keeps them, from one list per metric."""
    n = len(next(iter(metrics.values())))
    return [
        {"sample_id": str(i), "scores": {m: float(v[i]) for m, v in metrics.items()}}
        for i in range(n)
    ]


def test_mcnemar_counts_only_discordant_samples():
    old = {str(i): 1.0 for i in range(100)}
    new = dict(old) | {str(i): 0.0 for i in range(10)}  # 10 worse, none better
    got = mcnemar_exact(old, new)
    assert (got["worse"], got["better"], got["shared"]) == (10, 0, 100)
    assert got["p"] == 1 / 2**10
    # 5 worse, 5 better: P(X >= 5) for X ~ Bin(10, 1/2) = 638/1024
    new = dict(old) | {str(i): 0.0 for i in range(5)}
    old_ = dict(old) | {str(i): 0.0 for i in range(50, 55)}
    assert mcnemar_exact(old_, new)["p"] == 638 / 1024
    assert mcnemar_exact(old, dict(old))["p"] == 1.0  # nothing discordant


def test_paired_bootstrap():
    old = {str(i): 1.0 if i % 2 else 0.5 for i in range(100)}
    worse = {k: v - 0.4 for k, v in old.items()}
    assert paired_bootstrap(old, worse)["p"] < 0.01
    same = paired_bootstrap(old, dict(old))
    assert same["delta"] == 0 and same["p"] == 1.0
    assert paired_bootstrap({}, {})["shared"] == 0


def test_holm_step_down():
    got = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert got == {"a": 0.03, "c": 0.06, "b": 0.06}  # monotone: b is not below c
    assert holm({"a": 0.6, "b": 0.7}) == {"a": 1.0, "b": 1.0}


def test_binary_metrics_get_mcnemar_and_the_others_a_bootstrap():
    em = [1, 0] * 50
    f1 = [0.5, 0.25] * 50
    got = compare_runs(
        ["f1", "exact_match"],
        samples(f1=f1, exact_match=em),
        samples(f1=[0.0] * 100, exact_match=[0] * 100),
        alpha=0.05,
        min_samples=30,
    )
    tests = {t["metric"]: t for t in got.tests}
    assert tests["exact_match"]["test"] == "mcnemar" and tests["f1"]["test"] == "paired_bootstrap"
    assert all(t["dropped"] for t in got.tests) and len(got.findings) == 2
    assert "McNemar exact, 50 worse / 0 better" in got.findings[1]
    assert is_binary({"a": 1.0, "b": 0.0}) and not is_binary({"a": 0.5})


def test_too_few_samples_is_not_compared_never_passed():
    got = compare_runs(
        ["f1"], samples(f1=[1.0] * 10), samples(f1=[0.0] * 10), alpha=0.05, min_samples=30
    )
    assert got.status == "not_compared" and not got.compared and got.tests == []
    assert "10 paired samples, fewer than the 30" in got.summary()
    # the same drop over enough samples is named
    enough = compare_runs(
        ["f1"], samples(f1=[1.0] * 30), samples(f1=[0.0] * 30), alpha=0.05, min_samples=30
    )
    assert enough.compared and enough.findings


def _runs(rng, n, effect):
    """Two evaluations of the same samples: per-sample difficulty shared by both runs (so
    they are paired), the new run `effect` worse on both metrics."""
    skill = rng.uniform(0.2, 0.9, n)
    em_old = rng.random(n) < skill
    em_new = rng.random(n) < np.clip(skill - effect, 0, 1)
    f1_old = np.clip(skill + rng.normal(0, 0.15, n), 0, 1)
    f1_new = np.clip(skill - effect + rng.normal(0, 0.15, n), 0, 1)
    return samples(f1=f1_old, exact_match=em_old), samples(f1=f1_new, exact_match=em_new)


def _rejection_rate(effect, trials, n=200, seed=7):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        old, new = _runs(rng, n, effect)
        got = compare_runs(["f1", "exact_match"], old, new, alpha=0.05, min_samples=30)
        hits += bool(got.findings)
    return hits / trials


def test_error_rates_on_synthetic_paired_data():
    # no effect: a drop is named in at most 5% of 300 trials (the family, both metrics)
    assert _rejection_rate(0.0, 300) <= 0.05
    # a drop of 0.08 over 200 samples is found in most trials
    assert _rejection_rate(0.08, 100) >= 0.8
