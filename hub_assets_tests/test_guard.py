"""Offline verification of a consumer's files against a lockfile (`hub-assets verify-cache`)
and the guard that loads only a verified snapshot: a tamper corpus, every case caught before
the loader sees a byte."""

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub_assets import guard
from hub_assets.cli import main
from hub_assets.errors import InvalidRepoPathError, LockMismatchError, NotApprovedError, exit_code
from hub_assets.hub.locked_files import VerifiedFiles, check_snapshot


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """The guard keeps what it verified under ~/.cache/hub-assets: a home of the test's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


MODEL = "acme/tiny"
REVISION = "ab" * 20
FILES = {
    "config.json": json.dumps({"model_type": "bert", "hidden_size": 8}).encode(),
    "model.safetensors": bytes(range(256)) * 64,
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\nworld\n",
}


def _lock(files: dict[str, bytes] = FILES) -> dict:
    return {
        "format": 1,
        "models": {
            MODEL: {
                "revision": REVISION,
                "files": [
                    {"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                    for p, b in sorted(files.items())
                ],
            }
        },
    }


def _write(folder: Path, files: dict[str, bytes] = FILES) -> Path:
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


def _cache(root: Path) -> Path:
    """The Hugging Face cache layout: snapshot files are symlinks into blobs/."""
    repo = root / ("models--" + MODEL.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    for path, data in FILES.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        (snapshot / path).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / path).symlink_to(os.path.relpath(blob, (snapshot / path).parent))
    return snapshot


class Loader:
    """A loader that records whether it was called, and with what."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, path: str, **kwargs: object) -> str:
        self.calls.append((path, kwargs))
        return "loaded"


def test_a_matching_folder_and_cache_load_and_verify(tmp_path):
    lock = _lock()
    folder = _write(tmp_path / "dl")
    (folder / ".cache" / "huggingface").mkdir(parents=True)  # what hf download leaves
    (folder / ".cache" / "huggingface" / "x.metadata").write_text("meta")
    loader = Loader()
    assert guard.load(loader, MODEL, lock=lock, local_dir=folder, revision_hint=1) == "loaded"
    assert loader.calls == [
        (
            str(folder),
            {"revision_hint": 1, "local_files_only": True, "trust_remote_code": False},
        )
    ]
    cache = tmp_path / "hub"
    snapshot = _cache(cache)
    assert guard.verified_snapshot(MODEL.upper(), lock, cache_dir=cache) == snapshot
    (tmp_path / "models.lock").write_text(json.dumps(lock))
    for where in (["--local-dir", str(folder)], ["--cache-dir", str(cache)]):
        done = CliRunner().invoke(
            main, ["verify-cache", "--lock", str(tmp_path / "models.lock"), *where]
        )
        assert done.exit_code == 0, done.output
        assert f"ok  {MODEL}@{REVISION[:12]}: 3 files verified" in done.output


def _tampers(folder: Path):
    """(name, how to damage the folder) for each kind of damage, on each file."""
    cases = []
    for path, data in FILES.items():
        for at in sorted({0, len(data) // 2, len(data) - 1}):
            cases.append((f"flip {path}@{at}", path, "flip", at))
        cases += [
            (f"in place {path}", path, "in_place", len(data) - 1),  # a cache blob itself
            (f"truncate {path}", path, "truncate", None),
            (f"append {path}", path, "append", None),
            (f"remove {path}", path, "remove", None),
            (f"symlink {path}", path, "symlink", None),
        ]
    cases.append(("extra pickle", "pytorch_model.bin", "extra", None))
    cases.append(("extra nested", "tokenizer/added.py", "extra", None))
    return cases


def _damage(folder: Path, path: str, how: str, at: int | None) -> None:
    target = folder / path
    if how == "flip":
        data = bytearray(target.read_bytes())
        data[at] ^= 0x01
        target.unlink()  # a cache symlink is replaced, its blob left alone
        target.write_bytes(bytes(data))
    elif how == "in_place":  # through the cache's symlink: the blob changes
        with target.open("r+b") as f:
            f.seek(at)
            byte = f.read(1)[0]
            f.seek(at)
            f.write(bytes([byte ^ 0x80]))
    elif how == "truncate":
        data = target.read_bytes()
        target.unlink()
        target.write_bytes(data[:-1])
    elif how == "append":
        data = target.read_bytes()
        target.unlink()
        target.write_bytes(data + b"\0")
    elif how == "remove":
        target.unlink()
    elif how == "symlink":
        outside = folder.parent / "outside"
        outside.write_bytes(b"x" * len(FILES[path]))
        target.unlink()
        target.symlink_to(outside)
    elif how == "extra":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")


@pytest.mark.parametrize("layout", ["local_dir", "cache"])
def test_every_tamper_is_caught_before_the_loader_runs(tmp_path, layout):
    lock = _lock()
    (tmp_path / "models.lock").write_text(json.dumps(lock))
    for n, (name, path, how, at) in enumerate(_tampers(tmp_path)):
        root = tmp_path / f"case{n}"
        if layout == "cache":
            folder, where = _cache(root), {"cache_dir": root}
            option = ["--cache-dir", str(root)]
        else:
            folder, where = _write(root), {"local_dir": root}
            option = ["--local-dir", str(root)]
        _damage(folder, path, how, at)
        check = check_snapshot(MODEL, lock["models"][MODEL], folder)
        assert not check.ok, name
        assert any(path in p for p in check.problems()), (name, check.problems())
        loader = Loader()
        with pytest.raises(LockMismatchError, match="does not match the lockfile"):
            guard.load(loader, MODEL, lock=lock, **where)
        assert loader.calls == [], name
        done = CliRunner().invoke(
            main, ["verify-cache", "--lock", str(tmp_path / "models.lock"), *option]
        )
        assert done.exit_code == exit_code("checksum_mismatch"), (name, done.output)
        assert f"FAILED  {MODEL}@{REVISION[:12]}" in done.output and path in done.output


def test_every_single_byte_of_a_file_is_covered(tmp_path):
    """Each byte of the config flipped in turn: every one is caught."""
    lock = _lock()
    data = FILES["config.json"]
    folder = _write(tmp_path / "dl")
    for at in range(len(data)):
        changed = bytearray(data)
        changed[at] ^= 0x20
        (folder / "config.json").write_bytes(bytes(changed))
        check = check_snapshot(MODEL, lock["models"][MODEL], folder)
        assert check.tampered and check.tampered[0].startswith("config.json: sha256"), at


def test_an_unlocked_model_or_a_missing_snapshot_is_refused(tmp_path):
    lock = _lock()
    loader = Loader()
    with pytest.raises(NotApprovedError, match="acme/other is not in the lockfile"):
        guard.load(loader, "acme/other", lock=lock, cache_dir=tmp_path)
    with pytest.raises(LockMismatchError, match="no snapshot of the locked revision"):
        guard.load(loader, MODEL, lock=lock, cache_dir=tmp_path)  # an empty cache
    assert loader.calls == []
    (tmp_path / "models.lock").write_text(json.dumps(lock))
    runner = CliRunner()
    missing = runner.invoke(
        main, ["verify-cache", "--lock", str(tmp_path / "models.lock"), "--cache-dir", "nope"]
    )
    assert missing.exit_code == 8 and "no snapshot of the locked revision" in missing.output
    unknown = runner.invoke(
        main, ["verify-cache", "--lock", str(tmp_path / "models.lock"), "--model", "acme/x"]
    )
    assert unknown.exit_code == 3 and "acme/x" in unknown.output
    (tmp_path / "bad.lock").write_text('{"format": 1, "models": {"acme/x": {"revision": "1"}}}')
    bad = runner.invoke(main, ["verify-cache", "--lock", str(tmp_path / "bad.lock")])
    assert bad.exit_code == 2 and "has no 40-hex revision" in bad.output


def test_a_file_verified_once_is_not_hashed_again_until_it_changes(tmp_path):
    """The guard's record of what it verified: unchanged files are not hashed on the next
    load; a write (even one that restores the modification time), a replaced file or a
    forged record makes it hash again, and the tamper is caught."""
    lock = _lock()
    entry = lock["models"][MODEL]
    folder = _write(tmp_path / "dl")
    memo = tmp_path / "verified"

    def hashed(verified: VerifiedFiles) -> tuple[bool, set[str]]:
        seen: set[str] = set()
        check = check_snapshot(MODEL, entry, folder, lambda p, d, s: seen.add(p), verified)
        return check.ok, seen

    assert hashed(VerifiedFiles(memo)) == (True, set(FILES))  # first: every file hashed
    assert hashed(VerifiedFiles(memo)) == (True, set())  # a new process: none
    target = folder / "model.safetensors"
    before = target.stat()
    data = bytearray(target.read_bytes())
    data[7] ^= 1
    target.write_bytes(bytes(data))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # the time set back
    ok, seen = hashed(VerifiedFiles(memo))
    assert not ok and seen == {"model.safetensors"}  # the change time gave it away
    target.write_bytes(FILES["model.safetensors"])
    assert hashed(VerifiedFiles(memo)) == (True, {"model.safetensors"})
    # a record edited without the key is ignored: every file is hashed again
    record = next(p for p in memo.glob("*.json"))
    forged = json.loads(record.read_text())
    forged["files"]["config.json"][-1] = "0" * 64
    record.write_text(json.dumps(forged))
    assert hashed(VerifiedFiles(memo)) == (True, set(FILES))
    assert (memo / ".key").stat().st_mode & 0o077 == 0  # only this user reads the key
    loader = Loader()
    assert guard.load(loader, MODEL, lock=lock, local_dir=folder) == "loaded"
    assert guard.load(loader, MODEL, lock=lock, local_dir=folder, rehash=True) == "loaded"


def test_a_lock_whose_paths_leave_the_folder_is_refused(tmp_path):
    lock = _lock()
    lock["models"][MODEL]["files"][0]["path"] = "../../etc/passwd"
    with pytest.raises(InvalidRepoPathError):
        guard.load(Loader(), MODEL, lock=lock, local_dir=_write(tmp_path / "dl"))
