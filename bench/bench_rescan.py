"""Re-judging after a scanner rule change: 1,000 approved models whose weights are a
pickle (verified snapshots kept, a passing security verdict of 0.75: every import on the
allowlist) are scanned again by the three engines on their kept snapshots and gated again
after a reviewer withdraws `torch.LongStorage` from the allowlist; every 10th model's
pickle holds int64 tensors and is revoked.

Two template repos are made on a development Hub and judged through the pipeline (a real
download and scan); the 1,000 models are copies of them (hard-linked snapshot folders,
copied registry rows), so the pass scans 1,000 real snapshots.

Prints:
- `rescan_s=`: the whole pass (`pipeline.rejudge.rescan_stale`; target <= 300 s for
  1,000 on 2 cores), with `revoked=` against the number built;
- `hub_requests=0 downloads=0`: the Hub's request log across the pass (it was reachable)
  and the files the snapshot store fetched;
- `mirror_refuses_s=`: from the end of the pass until the mirror's store (refreshing every
  2 s, as `mirror serve` does) refuses a revoked model with the reason (target <= 60 s);
- `first_judgement_ms=` (one template judged from the Hub: metadata, download, scan) and
  `ratio_vs_first_judgement=` (a re-scan per model against it).

Usage: python bench/bench_rescan.py [--tiny]
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["HF_HUB_DISABLE_XET"] = "1"  # the development Hub takes Git LFS uploads, not Xet

from huggingface_hub import HfApi  # noqa: E402

from bench.mirror_refusal import seconds_until_revoked  # noqa: E402
from hub_assets.devhub.server import HubServer  # noqa: E402
from hub_assets.metrics.table import GATE_METRICS  # noqa: E402
from hub_assets.mirror.store import ApprovedStore  # noqa: E402
from hub_assets.packaging.store import PackageStore  # noqa: E402
from hub_assets.pipeline.rejudge import rescan_stale  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402
from hub_assets.resources import PipelineResource  # noqa: E402

TINY = "--tiny" in sys.argv
MODELS = 20 if TINY else 1_000
WRITER = "hf_bench_writer_token"
FLOAT, LONG = "bench/float-pickle", "bench/long-pickle"  # every 10th model is a LONG copy


def _pickled(dtype: object) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"weight": torch.zeros(4, dtype=dtype)}, buf)
    return buf.getvalue()


def make_templates(url: str) -> None:
    """The two template repos: config.json and pytorch_model.bin (float32 or int64)."""
    import torch

    api = HfApi(endpoint=url, token=WRITER)
    for repo, dtype in ((FLOAT, torch.float32), (LONG, torch.int64)):
        api.create_repo(repo)
        api.upload_file(
            path_or_fileobj=b'{"model_type": "gpt2"}', path_in_repo="config.json", repo_id=repo
        )
        api.upload_file(
            path_or_fileobj=_pickled(dtype), path_in_repo="pytorch_model.bin", repo_id=repo
        )


def clone(registry: Registry, store_root: Path, shas: dict[str, str], n: int) -> None:
    """`n` approved models, copies of the templates: snapshot folders hard-linked, registry
    rows (metadata, the security verdict, the other gate metrics at 1.0, a passing gate
    result, a live package) copied under each model's id."""
    for i in range(n):
        template = LONG if i % 10 == 0 else FLOAT
        source = store_root / f"{template.replace('/', '--')}@{shas[template]}"
        target = store_root / f"org--m{i:05d}@{shas[template]}"
        shutil.copytree(source, target, copy_function=os.link)
    pick = f"CASE WHEN i % 10 = 0 THEN '{LONG}' ELSE '{FLOAT}' END"
    name = "'org/m' || lpad(CAST(i AS VARCHAR), 5, '0')"
    others = "[" + ", ".join(f"'{m}'" for m in GATE_METRICS if m != "security") + "]"
    with registry.write() as con:
        con.execute(
            f"CREATE TEMP TABLE clones AS SELECT i, {name} AS m, {pick} AS t FROM range(?) r(i)",
            [n],
        )
        con.execute(
            "INSERT INTO models SELECT s.* REPLACE (c.m AS model_id) FROM models s "
            "JOIN clones c ON s.model_id = c.t"
        )
        con.execute(
            "INSERT INTO model_revisions SELECT r.* REPLACE (c.m AS model_id) "
            "FROM model_revisions r JOIN clones c ON r.model_id = c.t"
        )
        con.execute(
            "INSERT INTO metric_values SELECT v.* REPLACE (c.m AS model_id) "
            "FROM metric_values v JOIN clones c ON v.model_id = c.t WHERE v.metric = 'security'"
        )
        con.execute(
            "INSERT INTO metric_values (model_id, revision_sha, metric, value, run_id, "
            "created_at) SELECT c.m, s.sha, u.m, 1.0, 'bench', now() FROM clones c "
            "JOIN models s ON s.model_id = c.t, "
            f"unnest({others}) u(m)"
        )
        con.execute(
            "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, message, "
            "thresholds, config_version, target_device, run_id, created_at) "
            "SELECT c.m, s.sha, true, '[]', 'ok', '{}', 'bench', 'jetson_nano', 'bench', now() "
            "FROM clones c JOIN models s ON s.model_id = c.t"
        )
        con.execute(
            "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
            "size_bytes, sha256, manifest, model_card, run_id, created_at) "
            "SELECT 'p' || c.i, replace(c.m, '/', '-'), '1.0.0', c.m, s.sha, "
            "'/nowhere/p' || c.i || '.zip', 1, md5('z' || c.i), '{\"files\": []}', '', "
            "'bench', now() FROM clones c JOIN models s ON s.model_id = c.t"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog").mkdir()
        registry = Registry(folder / "registry.duckdb")
        registry.ensure_schema()
        with HubServer(folder / "catalog", tokens=[f"{WRITER}:write:bench"]) as hub:
            make_templates(hub.url)
            stages = PipelineResource.of(
                hub_endpoint=hub.url,
                hub_rate_limit=0,
                registry=registry.location,
                cache_dir=str(folder / "cache"),
                work_dir=str(folder / "work"),
            ).get()
            client = stages.client()
            shas, started = {}, time.perf_counter()
            for template in (FLOAT, LONG):
                stages.record_metadata(client, template, "bench")
                judged = stages.judge_security(client, template, "bench")
                assert judged.verdict.value == 0.75, judged.verdict.reason
                shas[template] = judged.sha
            first_ms = (time.perf_counter() - started) * 1000 / 2
            store = stages.snapshots()
            clone(registry, store.root, shas, MODELS)
            config = stages.gate_config()
            strict = dataclasses.replace(
                config,
                version="bench",
                scanner_allowlist=tuple(
                    a for a in config.scanner_allowlist if a != "torch.LongStorage"
                ),
            )
            mirror = ApprovedStore(registry, PackageStore(str(folder / "packages")), refresh_s=2.0)
            mirror.refresh()

            before = hub.state.requests["total"]
            store.downloads.clear()
            done = rescan_stale(registry, store, strict, "bench-rescan")
            requests = hub.state.requests["total"] - before
            refused_s = seconds_until_revoked(mirror, done.revoked[0][0])

    per_model_ms = done.elapsed_s * 1000 / max(done.rescanned, 1)
    print(f"models={MODELS} rescanned={done.rescanned} waiting={len(done.waiting)}")
    print(f"revoked={len(done.revoked)} (built: {MODELS // 10}) still_passing={done.still_passing}")
    print(
        f"rescan_s={done.elapsed_s:.2f} (target <= 300 s for 1,000) per_model_ms={per_model_ms:.1f}"
    )
    print(f"hub_requests={requests} downloads={len(store.downloads)}")
    print(f"mirror_refuses_s={refused_s:.2f} (target <= 60 s)")
    print(f"first_judgement_ms={first_ms:.0f}")
    print(f"ratio_vs_first_judgement={per_model_ms / first_ms:.2f}")
    if len(done.revoked) != MODELS // 10 or done.rescanned != MODELS or requests or store.downloads:
        raise SystemExit("wrong revocations, or the pass reached the Hub")


if __name__ == "__main__":
    main()
