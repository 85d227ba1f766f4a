"""`recommend`'s choice: the best approved model that fits, ties, a task filter, nothing
that fits; and the size classes."""

from hub_assets.hardware.fit import estimate_ram
from hub_assets.hardware.footprint import Architecture, Footprint
from hub_assets.hardware.recommend import recommend, size_class

GIB = 1024**3


def _row(model_id, net, params, task="text-generation", bytes_per_param=2):
    fp = Footprint(
        "test",
        ("w",),
        params,
        {"F16": params},
        params * bytes_per_param,
        "F16",
        architecture=Architecture(layers=8, kv_heads=4, head_dim=64, decoder=True),
    )
    return {
        "model_id": model_id,
        "task": task,
        "net_score": net,
        "fit": {"footprint": fp.as_dict()},
    }


APPROVED = [
    _row("acme/small", 0.60, 100_000_000),
    _row("acme/medium", 0.80, 1_500_000_000),
    _row("acme/large", 0.90, 13_000_000_000),
    _row("acme/twin-a", 0.60, 100_000_000),
    _row("acme/embedder", 0.95, 20_000_000, task="feature-extraction"),
    {"model_id": "acme/unmeasured", "task": "text-generation", "net_score": 0.99, "fit": None},
]


def test_the_best_that_fits_with_its_numbers_and_runners_up():
    rec = recommend(APPROVED, 4 * GIB, 4096, task="text-generation")
    assert rec.best.model_id == "acme/medium"  # large scores higher but needs ~25 GiB
    assert rec.best.fits and rec.best.headroom_bytes == 4 * GIB - rec.best.estimate.total_bytes
    assert [o.model_id for o in rec.runners_up] == ["acme/small", "acme/twin-a"]
    assert [o.model_id for o in rec.too_big] == ["acme/large"]
    assert rec.unmeasured == ["acme/unmeasured"]
    expected = estimate_ram(
        Footprint(
            **{
                **APPROVED[1]["fit"]["footprint"],
                "architecture": Architecture(layers=8, kv_heads=4, head_dim=64, decoder=True),
                "weight_files": ("w",),
            }
        ),
        4096,
    )
    assert rec.best.estimate == expected
    as_json = rec.as_dict()
    assert (
        as_json["best"]["model_id"] == "acme/medium" and as_json["best"]["size_class"] == "medium"
    )


def test_ties_go_to_the_smaller_estimate_then_the_name():
    rows = [
        _row("acme/twin-b", 0.6, 100_000_000),
        _row("acme/twin-a", 0.6, 100_000_000),
        _row("acme/fat-twin", 0.6, 100_000_000, bytes_per_param=4),
    ]
    rec = recommend(rows, 4 * GIB, 1024)
    assert [rec.best.model_id] + [o.model_id for o in rec.runners_up] == [
        "acme/twin-a",
        "acme/twin-b",
        "acme/fat-twin",
    ]


def test_a_task_filter_and_a_longer_context_change_the_choice():
    assert recommend(APPROVED, 4 * GIB, 4096, "feature-extraction").best.model_id == (
        "acme/embedder"
    )
    assert recommend(APPROVED, 4 * GIB, 4096, "question-answering").best is None
    short = recommend(APPROVED, 4 * GIB, 512, "text-generation").best.estimate.kv_cache_bytes
    long = recommend(APPROVED, 4 * GIB, 8192, "text-generation").best.estimate.kv_cache_bytes
    assert long == 16 * short


def test_nothing_fits():
    rec = recommend(APPROVED, GIB // 4, 4096, "text-generation")
    assert rec.best is None and rec.runners_up == []
    assert [o.model_id for o in rec.too_big][0] == "acme/small"  # smallest first
    assert recommend([], 4 * GIB, 4096).best is None


def test_size_classes():
    assert size_class(None) == "unknown"
    assert size_class(999_999_999) == "small"
    assert size_class(1_000_000_000) == "medium"
    assert size_class(10_000_000_000) == "large"
