"""A hostile Hub and hostile repos: every case refused before any load, with its own
outcome, nothing written outside the configured folders, no process left behind, and a
retry after the fault is removed completes.

Each case runs the pipeline's first two stages as the per-model job does (`record_metadata`,
then `judge_revision_security`, which every loading stage waits for) against
`hostile_hub.HostileHub`. The loader's audit event (`hub_assets.load`) is hooked: no case
may ever reach a loader.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
import time
import zipfile
import zlib
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import psutil
import pytest

from hub_assets.errors import HubAssetsError
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.hub.untrusted import RepoLimits
from hub_assets.metrics.scoring import ScoringContext
from hub_assets.pipeline.metadata import record_metadata
from hub_assets.pipeline.score import judge_revision_security
from hub_assets.registry.models import current_sha
from hub_assets.registry.store import Registry
from hub_assets_tests.hostile_hub import HostileHub, HostileRepo

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LOADS: list[str] = []


def _hook(event: str, args: tuple) -> None:
    if event == "hub_assets.load":
        LOADS.append(str(args[0]))


sys.addaudithook(_hook)  # stays for the process: it only records


class Trap:
    """Pickled (never unpickled) into the hostile payloads: loading it would run a command."""

    def __reduce__(self):  # noqa: ANN204
        return (os.system, ("touch /tmp/hub-assets-pwned",))


def tensors(names: dict[str, tuple[list[int], str]] | None = None) -> bytes:
    """An honest safetensors file (zeros)."""
    names = names or {"w": ([4, 4], "F32")}
    header, offset, body = {}, 0, b""
    for name, (shape, dtype) in names.items():
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
        body += b"\0" * n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def safetensors_with(header: dict, body: bytes = b"\0" * 64, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", length if length is not None else len(raw)) + raw + body


def torch_zip(payload: bytes, member: str = "archive/data.pkl") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(member, payload)
    return buf.getvalue()


def npy_object() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([Trap()], dtype=object), allow_pickle=True)
    return buf.getvalue()


def npz_object() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, ok=np.zeros(3), bad=np.array([Trap()], dtype=object))
    return buf.getvalue()


def gguf_claiming(tensors: int) -> bytes:
    return b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", tensors) + struct.pack("<Q", 0)


TRAP = pickle.dumps(Trap(), protocol=2)
TRAP_V0 = b"cos\nsystem\n(S'touch /tmp/hub-assets-pwned'\ntR."
HONEST = {
    "README.md": b"---\nlicense: mit\n---\n# a model\n",
    "config.json": b'{"model_type": "bert"}',
    "model.safetensors": tensors(),
}
ESCAPE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"


def repo(name: str, extra: dict[str, bytes] | None = None, **faults) -> HostileRepo:
    return HostileRepo(f"evil/{name}", {**HONEST, **(extra or {})}, faults=faults)


# (case, repo, expected outcome, words the message must hold). The outcome is a refusal
# raised before the verdict (unsafe_repo, oversized_repo, checksum_mismatch,
# download_failed), or "verdict": a failing security verdict, the model never loaded.
CASES = [
    # -- strings from the Hub that would become paths ------------------------------------
    ("sha-traversal", repo("a", sha="../../../../../escaped"), "unsafe_repo", "revision sha"),
    ("sha-not-hex", repo("b", sha="Z" * 40), "unsafe_repo", "revision sha"),
    ("sha-upper", repo("c", sha="A" * 40), "unsafe_repo", "revision sha"),
    (
        "blob-id-traversal",
        repo("d", sibling_fields={"config.json": {"blobId": "../../../../../escaped"}}),
        "unsafe_repo",
        "blob id of config.json",
    ),
    (
        "lfs-traversal",
        repo(
            "e",
            sibling_fields={
                "model.safetensors": {
                    "lfs": {"sha256": "../../escaped", "size": 1, "pointerSize": 1}
                }
            },
        ),
        "unsafe_repo",
        "LFS sha256 of model.safetensors",
    ),
    ("etag-traversal", repo("f", etag={"config.json": "../../../../escaped"}), "cleared", ""),
    *[
        (f"name-{i}", repo(f"n{i}", {name: b"x"}), "unsafe_repo", why)
        for i, (name, why) in enumerate(
            [
                ("../escaped.txt", "unsafe file name"),
                ("a/../../escaped", "unsafe file name"),
                ("/etc/escaped", "unsafe file name"),
                ("dir\\file", "unsafe file name"),
                ("evil\nINFO forged log line", "control characters (U+000A)"),
                ("bidi\u202etxt.exe", "control characters (U+202E)"),
                (".hub-assets/clearance.json", "bookkeeping"),
                ("model.safetensors.partial", "bookkeeping"),
                ("x" * 300, "over 1000 characters (or a part over 255)"),
                ("Config.JSON", "twice"),
            ]
        )
    ],
    # -- sizes, counts, endless and lying bodies -----------------------------------------
    (
        "size-negative",
        repo("s1", sibling_fields={"config.json": {"size": -1}}),
        "unsafe_repo",
        "invalid size of config.json",
    ),
    (
        "size-petabytes",
        repo("s2", sibling_fields={"config.json": {"size": 2**60}}),
        "unsafe_repo",
        "invalid size of config.json",
    ),
    (
        "weight-5tb",
        repo("s3", sibling_fields={"model.safetensors": {"size": 5 * 10**12}}),
        "oversized_repo",
        "before any fetch",
    ),
    ("files-over-limit", repo("s4", sibling_count=2_001), "oversized_repo", "more than 2,000"),
    ("endless-config", repo("s5", bodies={"config.json": "endless"}), "checksum_mismatch", ""),
    (
        "trickle-config",
        repo("s6", bodies={"config.json": "trickle"}),
        "download_failed",
        "deadline",
    ),
    (
        "endless-range",
        repo("s7", bodies={"model.safetensors": "ignore-range"}),
        "cleared",
        "",
    ),
    ("swapped-config", repo("s8", bodies={"config.json": "swap"}), "checksum_mismatch", ""),
    ("endless-info", repo("s10", info="endless"), "unsafe_repo", "more than 64 MiB of JSON"),
    ("commits-forever", repo("s11", commit_pages="forever"), "cleared", ""),
    (
        "lying-card-size",
        repo("s9", sibling_fields={"README.md": {"size": 3}}),
        "checksum_mismatch",
        "",
    ),
    # -- redirects --------------------------------------------------------------------------
    (
        "redirect-metadata-address",
        repo("r1", redirect={"config.json": "http://169.254.169.254/latest/meta-data"}),
        "unsafe_repo",
        "a host it may not send us to",
    ),
    (
        "redirect-other-port",
        repo("r2", redirect={"config.json": "http://127.0.0.1:9/x"}),
        "unsafe_repo",
        "a host it may not send us to",
    ),
    (
        "redirect-file-scheme",
        repo("r3", redirect={"config.json": "file:///etc/passwd"}),
        "unsafe_repo",
        "a host it may not send us to",
    ),
    # -- pickles in every format and suffix ----------------------------------------------
    ("pickle-upper-suffix", repo("p1", {"optimizer.PT": torch_zip(TRAP)}), "verdict", "posix"),
    ("pickle-joblib", repo("p2", {"model.joblib": TRAP}), "verdict", "dangerous"),
    ("pickle-npy", repo("p3", {"arrays.npy": npy_object()}), "verdict", "arrays.npy"),
    ("pickle-npz", repo("p4", {"arrays.npz": npz_object()}), "verdict", "arrays.npz:bad.npy"),
    ("pickle-no-suffix", repo("p5", {"weights.dat": TRAP}), "verdict", "dangerous"),
    ("pickle-hidden-name", repo("p6", {"notes.txt.bak": TRAP}), "verdict", "dangerous"),
    ("pickle-protocol-0", repo("p7", {"model.pkl": TRAP_V0}), "verdict", "dangerous"),
    (
        "pickle-compressed",
        repo("p8", {"model.joblib": zlib.compress(TRAP)}),
        "verdict",
        "zlib-compressed",
    ),
    (
        "pickle-odd-member",
        repo("p9", {"pytorch_model.bin": torch_zip(TRAP, "archive/x/data")}),
        "verdict",
        "pytorch_model.bin:archive/x/data",
    ),
    # -- code that trust_remote_code would run, in any config ---------------------------
    *[
        (f"remote-code-{i}", repo(f"c{i}", {cfg: body}), "verdict", why)
        for i, (cfg, body, why) in enumerate(
            [
                (
                    "config.json",
                    b'{"model_type": "bert", "auto_map": {"AutoModel": "modeling.Evil"}}',
                    "config.json: modeling.py",
                ),
                (
                    "tokenizer_config.json",
                    b'{"auto_map": {"AutoTokenizer": ["tok.EvilTok", null]}}',
                    "tokenizer_config.json: tok.py",
                ),
                (
                    "preprocessor_config.json",
                    b'{"auto_map": {"AutoImageProcessor": "proc.Evil"}}',
                    "preprocessor_config.json: proc.py",
                ),
                (
                    "sub/processor_config.json",
                    b'{"text_config": {"auto_map": {"AutoConfig": "other--cfg.Evil"}}}',
                    "other:cfg.py",
                ),
                (
                    "config.json",
                    b'{"model_type": "bert", "custom_pipelines": {"x": {"impl": "pipe.Evil"}}}',
                    "custom pipeline pipe.py",
                ),
            ]
        )
    ],
    (
        "chat-template-escape",
        repo("t1", {"tokenizer_config.json": json.dumps({"chat_template": ESCAPE}).encode()}),
        "verdict",
        "sandbox-escape pattern",
    ),
    (
        "chat-template-file",
        repo("t2", {"chat_template.jinja": b"{{ cycler.__init__.__globals__.os }}"}),
        "verdict",
        "attribute .__globals__",
    ),
    (
        "chat-template-attr",
        repo("t3", {"chat_template.jinja": b"{{ x|attr(name) }}"}),
        "verdict",
        "attr filter with a computed name",
    ),
    # -- malformed weight headers --------------------------------------------------------
    (
        "safetensors-length",
        repo("w1", {"model.safetensors": safetensors_with({}, length=10**9)}),
        "verdict",
        "malformed weights: model.safetensors",
    ),
    (
        "safetensors-huge-shape",
        repo(
            "w2",
            {
                "model.safetensors": safetensors_with(
                    {"w": {"dtype": "F32", "shape": [2**31, 2**31], "data_offsets": [0, 64]}}
                )
            },
        ),
        "verdict",
        "needs 18,446,744,073,709,551,616 bytes",
    ),
    (
        "safetensors-offsets",
        repo(
            "w3",
            {
                "model.safetensors": safetensors_with(
                    {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 10**6]}}
                )
            },
        ),
        "verdict",
        "data offsets outside the file",
    ),
    (
        "gguf-tensor-count",
        repo("w4", {"model.gguf": gguf_claiming(2**40)}),
        "verdict",
        "malformed weights: model.gguf: malformed GGUF header",
    ),
]


@pytest.fixture
def hostile():
    with HostileHub() as hub:
        yield hub


def outside(root: Path, box: Path) -> set[str]:
    """Every path under `root` that is not in `box` (what a case must not add to)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if box not in (p, *p.parents)}


def children() -> set[int]:
    """The process ids below this one."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


def run_case(hub: HostileHub, model_id: str, box: Path):
    """The pipeline's first two stages against the hostile Hub: (outcome, message)."""
    client = HubClient(
        HubSettings(
            endpoint=hub.url,
            cache_dir=box / "cache",
            requests_per_second=0,
            max_retries=0,
            timeout_s=2,
            limits=RepoLimits(max_files=2_000, max_file_bytes=50 * 10**9),
        )
    )
    registry = Registry(box / "registry.duckdb")
    context = partial(ScoringContext, work_dir=box / "work", now=NOW)
    try:
        # as an ad-hoc request (or its retry) runs it: main is re-resolved each time
        record_metadata(client, registry, model_id, "run-1", resolve_latest=True)
        judged = judge_revision_security(
            client,
            registry,
            model_id,
            "run-1",
            scoring_context=lambda c, **kw: context(client=c, **kw),
        )
    except HubAssetsError as e:
        return e.outcome, str(e)
    return ("cleared" if judged.cleared else "verdict"), judged.verdict.reason


@pytest.mark.parametrize(
    ("case", "hostile_repo", "expected", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_every_hostile_case_is_refused_before_any_load(
    hostile, tmp_path, case, hostile_repo, expected, words
):
    box = tmp_path / "box"
    box.mkdir()
    hostile.add(hostile_repo)
    before = outside(tmp_path, box)
    processes = children()
    started = time.monotonic()
    LOADS.clear()
    outcome, message = run_case(hostile, hostile_repo.repo_id, box)
    assert outcome == expected, message
    assert words in message, message
    assert time.monotonic() - started < 30  # endless and trickling bodies were cut off
    assert not LOADS  # nothing reached a loader
    assert outside(tmp_path, box) == before  # nothing written outside the folders
    assert not Path("/tmp/hub-assets-pwned").exists()
    assert "\n" not in message.replace("\\n", "")  # no forged log line in the message
    assert children() <= processes  # no process left behind (servers of other fixtures stay)
    assert hostile.requests[f"GET commits {hostile_repo.repo_id}"] <= 20  # pages are bounded
    if expected == "oversized_repo":  # refused from the listing: no file was fetched
        assert not [k for k, n in hostile.requests.items() if k.startswith("GET file") and n]
    # the fault removed upstream (the revision re-resolved), the retry completes
    hostile.fix(hostile_repo.repo_id)
    if expected == "verdict":  # the repo itself is hostile: a retry judges it again
        again, _ = run_case(hostile, hostile_repo.repo_id, box)
        assert again == "verdict"
    # upstream publishes a clean revision: the retry re-resolves main and judges it
    honest = HostileRepo(hostile_repo.repo_id, {**HONEST, "NOTES.md": b"fixed\n"})
    hostile.add(honest)
    again, message = run_case(hostile, honest.repo_id, box)
    assert again == "cleared", message
    names = [p.name for p in (box / "work" / "snapshots").iterdir()]
    assert any(n.endswith(f"@{honest.sha}") for n in names), names
    with Registry(box / "registry.duckdb").read() as con:
        assert current_sha(con, honest.repo_id) == honest.sha
    assert not LOADS


def test_a_hostile_listing_entry_is_skipped_not_recorded(hostile, tmp_path):
    hostile.add(HostileRepo("good/model", dict(HONEST)))
    hostile.listing_faults["entries"] = [
        {"id": "evil/new\nline", "sha": "a" * 40, "pipeline_tag": "feature-extraction"},
        {"id": "evil/sha", "sha": "../../x", "pipeline_tag": "feature-extraction"},
        ["not", "an", "object"],
    ]
    client = HubClient(
        HubSettings(endpoint=hostile.url, cache_dir=tmp_path / "c", requests_per_second=0)
    )
    pages = list(client.model_pages("feature-extraction"))
    assert [r["model_id"] for page in pages for r in page] == ["good/model"]
    assert len(client.refused_listing_entries) == 3


def test_the_loader_refuses_unjudged_bytes_and_announces_every_load(tmp_path):
    from transformers import AutoConfig

    from hub_assets.errors import NotClearedError
    from hub_assets.evaluation.loader import from_pretrained
    from hub_assets.hub.clearance import mark_cleared

    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    LOADS.clear()
    with pytest.raises(NotClearedError, match="no passing security verdict"):
        from_pretrained(AutoConfig, folder)
    assert not LOADS
    mark_cleared(folder, "a" * 40, "judged", "fp")
    assert from_pretrained(AutoConfig, folder).model_type == "bert"
    assert LOADS == [str(folder)]
    with pytest.raises(ValueError, match="never allowed"):
        from_pretrained(AutoConfig, folder, trust_remote_code=True)
    # verified weights whose header breaks the format are refused even with the mark
    (folder / "model.safetensors").write_bytes(safetensors_with({}, length=10**9))
    with pytest.raises(NotClearedError, match="malformed weights"):
        from_pretrained(AutoConfig, folder)


def test_unknown_architecture_is_told_in_words_and_nothing_prompts(tmp_path):
    """transformers asks on stdin before running a repo's code for an unknown model type;
    the loader never lets it ask, and the failure says what it is."""
    from transformers import AutoModel

    from hub_assets.evaluation.loader import from_pretrained, load_failure_words
    from hub_assets.hub.clearance import mark_cleared

    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "evilnet", "architectures": ["Evil"]}')
    mark_cleared(folder, "a" * 40, "judged", "fp")
    with pytest.raises(Exception) as caught:  # noqa: PT011 - transformers' own error
        from_pretrained(AutoModel, folder)
    words = load_failure_words(caught.value)
    assert words.startswith("unknown architecture 'evilnet'"), words


def test_the_child_box_closes_stdin_and_writes_nowhere_else(tmp_path):
    from hub_assets.box.sandbox import landlock_abi, run_boxed

    target = tmp_path / "outside.txt"
    code = (
        "import sys, pathlib\n"
        "print(repr(sys.stdin.read()))\n"
        "pathlib.Path('inside.txt').write_text('ok')\n"
        f"try:\n    pathlib.Path({str(target)!r}).write_text('x')\n"
        "except OSError as e:\n    print('refused', type(e).__name__)\n"
    )
    result = run_boxed(
        [sys.executable, "-c", code], env={"PATH": "/usr/bin"}, timeout_s=30, memory_mb=1024
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "''"  # stdin is closed: nothing to read, nothing can answer a prompt
    if landlock_abi() > 0:  # this kernel has Landlock (Linux 5.13+): writes are confined
        assert result.landlock and lines[1] == "refused PermissionError"
        assert not target.exists()


def test_the_reproducibility_child_refuses_an_unjudged_snapshot(tmp_path):
    from hub_assets.metrics.reproduce_child import main

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    out = main(str(tmp_path), "feature-extraction")
    assert out["status"] == "failed" and out["reason"].startswith("not run: Refusing to load")


def test_every_load_goes_through_the_one_loader():
    """`from_pretrained(` is called in one module of the product (the development Hub
    builds its own demo files; publishing writes it into card text)."""
    root = Path(__file__).resolve().parents[2] / "hub_assets"
    callers = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if ".from_pretrained(" in p.read_text()
        and not str(p.relative_to(root)).startswith(("devhub/", "publishing/"))
    )
    assert callers == ["evaluation/loader.py"], callers


@pytest.mark.slow
def test_hub_assets_ingest_against_the_hostile_hub(hostile, tmp_path):
    """The whole per-model job through Dagster, as `hub-assets ingest MODEL --wait` runs it:
    a hostile Hub string ends as `unsafe_repo` (exit 10), a hostile repo as a gate verdict
    that names security first (exit 4); nothing is written outside the configured folders."""
    from click.testing import CliRunner

    from hub_assets.cli import main
    from hub_assets_tests.conftest import pipeline_env

    box = tmp_path / "box"
    box.mkdir()
    hostile.add(repo("cli-sha", sha="../../../../../../escaped"))
    pickled_repo = hostile.add(repo("cli-pickle", {"model.joblib": TRAP}))
    before = outside(tmp_path, box)
    LOADS.clear()
    with pipeline_env(hostile.url, Registry(box / "registry.duckdb"), box):
        runner = CliRunner()
        sha = runner.invoke(main, ["ingest", "evil/cli-sha", "--wait"])
        assert sha.exit_code == 10, sha.output
        assert "failed (unsafe_repo): The Hub sent an invalid revision sha" in sha.output
        pickled = runner.invoke(main, ["ingest", "evil/cli-pickle", "--wait"])
        assert pickled.exit_code == 4, pickled.output
        assert "Failed metrics: Security (model.joblib: dangerous" in pickled.output
        assert f"evil/cli-pickle at revision {pickled_repo.sha[:12]} failed" in pickled.output
        # upstream removes the pickle: the retry re-resolves main and names what it judged
        fixed = hostile.add(HostileRepo("evil/cli-pickle", dict(HONEST)))
        retry = runner.invoke(main, ["ingest", "evil/cli-pickle", "--wait"])
        assert f"at revision {fixed.sha[:12]}" in retry.output or retry.exit_code == 0
        assert "Security (" not in retry.output, retry.output
    assert outside(tmp_path, box) == before
    assert not LOADS and not Path("/tmp/hub-assets-pwned").exists()


def test_a_stage_past_its_deadline_makes_no_more_requests(hostile, tmp_path):
    """Each request has its own deadline; a per-model stage has one for all its requests."""
    hostile.add(repo("slow", bodies={"config.json": "trickle"}))
    client = HubClient(
        HubSettings(
            endpoint=hostile.url,
            cache_dir=tmp_path / "c",
            requests_per_second=0,
            timeout_s=0.5,
            stage_deadline_s=0.2,
        )
    )
    client.begin_stage()
    time.sleep(0.3)
    with pytest.raises(HubAssetsError, match="HUB_ASSETS_STAGE_DEADLINE_S") as caught:
        client.model_metadata("evil/slow")
    assert caught.value.outcome == "download_failed"
    assert hostile.requests["GET info evil/slow"] == 0  # nothing asked past the deadline
