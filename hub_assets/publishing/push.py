"""Pushing a local adapter or fine-tune to a Hub, with a generated card.

Everything that can be checked locally is checked before any request: the folder holds
model files, the repo id and licence are valid, the JSON files parse. Then, before any
upload, `whoami` shows the token can write. Files go in one commit (large ones by the
client's LFS or Xet path), the generated card as `README.md`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from hub_assets.errors import (
    InvalidPushError,
    PushFailedError,
    PushForbiddenError,
    PushUnauthorizedError,
)
from hub_assets.hub.licenses import check_license
from hub_assets.ids import check_model_id
from hub_assets.publishing.cards import PushCard, push_card
from hub_assets.registry.store import Registry

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".h5", ".msgpack")
LFS_THRESHOLD = 10 * 1024 * 1024
_SKIPPED_DIRS = {".git", ".cache", "__pycache__", ".ipynb_checkpoints"}


@dataclass
class PushRequest:
    """What `hub-assets push` was asked to do."""

    path: Path
    repo_id: str
    base_model: str
    datasets: list[str] = field(default_factory=list)
    training_config: Path | None = None
    metrics: Path | None = None
    private: bool = False
    license: str | None = None
    task: str | None = None


@dataclass
class PreparedPush:
    """A push checked locally: the files, and what the card will say."""

    request: PushRequest
    files: list[tuple[str, Path]]  # (path in repo, local file)
    adapter_type: str | None
    training_config: dict | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class PushResult:
    """Where the push went."""

    repo_url: str
    commit_sha: str
    files: int


def _load_json(path: Path | None, what: str) -> dict | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InvalidPushError(f"Cannot read the {what} {path}: {e}") from None
    if not isinstance(data, dict):
        raise InvalidPushError(f"The {what} {path} must hold a JSON object.")
    return data


def _metrics(path: Path | None) -> dict[str, float]:
    data = _load_json(path, "metrics file") or {}
    data = data.get("metrics", data) if isinstance(data.get("metrics"), dict) else data
    out = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidPushError(
                f'Metric {name!r} in {path} is not a number: give {{"name": value, ...}}.'
            )
        out[str(name)] = float(value)
    return out


def prepare_push(request: PushRequest) -> PreparedPush:
    """Check everything that needs no network; `InvalidPushError` says what is wrong."""
    check_model_id(request.repo_id)
    check_model_id(request.base_model)
    for dataset in request.datasets:
        check_model_id(dataset)
    if request.license is not None:
        request.license = check_license(request.license)
    root = Path(request.path)
    if not root.is_dir():
        raise InvalidPushError(f"{root} is not a folder: give the folder the model was saved to.")
    files = []
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root)
        if f.is_symlink() or not f.is_file() or _SKIPPED_DIRS & set(rel.parts[:-1]):
            continue
        if rel.as_posix() == "README.md":
            continue  # the generated card replaces it
        files.append((rel.as_posix(), f))
    names = {p for p, _ in files}
    if not any(p.endswith(WEIGHT_SUFFIXES) for p in names):
        raise InvalidPushError(
            f"{root} holds no model files (*.safetensors, *.bin, ...): save the model or "
            "adapter there first (save_pretrained)."
        )
    adapter_type = None
    if "adapter_config.json" in names:
        config = _load_json(root / "adapter_config.json", "adapter config") or {}
        adapter_type = str(config.get("peft_type") or "adapter")
    return PreparedPush(
        request=request,
        files=files,
        adapter_type=adapter_type,
        training_config=_load_json(request.training_config, "training configuration"),
        metrics=_metrics(request.metrics),
    )


def check_can_write(api: HfApi) -> str:
    """The token's user, after `whoami` showed it may write; raise before any upload."""
    try:
        me = api.whoami()
    except HfHubHTTPError as e:
        raise PushUnauthorizedError(
            f"The Hub at {api.endpoint} does not accept this token: {e.server_message or e}. "
            "Set HF_TOKEN to a token with the write role, or run `hf auth login`."
        ) from None
    except Exception as e:  # noqa: BLE001 - LocalTokenNotFoundError and the like
        raise PushUnauthorizedError(
            f"No Hub token: set HF_TOKEN to a token with the write role, or run "
            f"`hf auth login` ({e})."
        ) from None
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    if role not in ("write", "fineGrained"):
        raise PushForbiddenError(
            f"The token of {me.get('name')} has the {role!r} role: pushing needs one with the "
            "write role."
        )
    return str(me.get("name"))


def push(
    api: HfApi,
    prepared: PreparedPush,
    *,
    registry_entry: str,
    echo: Callable[[str], None] = print,
) -> PushResult:
    """Create the repo if needed and commit the files with the generated card."""
    req = prepared.request
    user = check_can_write(api)
    try:
        base = api.model_info(req.base_model)
    except RepositoryNotFoundError:
        raise InvalidPushError(
            f"Base model {req.base_model} is not on the Hub at {api.endpoint}."
        ) from None
    card = push_card(
        PushCard(
            repo_id=req.repo_id,
            base_model=base.id,
            endpoint=api.endpoint,
            adapter_type=prepared.adapter_type,
            task=req.task or base.pipeline_tag,
            license=req.license,
            datasets=req.datasets,
            training_config=prepared.training_config,
            metrics=prepared.metrics,
            registry_entry=registry_entry,
        )
    )
    try:
        url = api.create_repo(req.repo_id, private=req.private, exist_ok=True)
        operations = []
        for rel, local in prepared.files:
            size = local.stat().st_size
            kind = "large file" if size >= LFS_THRESHOLD else "file"
            echo(f"  + {rel} ({size / 1e6:,.2f} MB, {kind})")
            operations.append(CommitOperationAdd(rel, local))
        operations.append(CommitOperationAdd("README.md", str(card).encode()))
        echo("  + README.md (generated card)")
        kind = f"{prepared.adapter_type} adapter" if prepared.adapter_type else "model"
        commit = api.create_commit(
            req.repo_id,
            operations,
            commit_message=f"Push {kind} of {base.id} with hub-assets",
            commit_description=f"Pushed by {user}.",
        )
    except HfHubHTTPError as e:
        raise PushFailedError(
            f"The Hub refused the push to {req.repo_id}: {e.server_message or e}"
        ) from None
    except (OSError, RuntimeError) as e:  # transport errors, hf_xet's ConnectionError
        hint = (
            " This Hub takes large files by Git LFS, not Xet: set HF_HUB_DISABLE_XET=1."
            if "xet-write-token" in str(e)
            else ""
        )
        raise PushFailedError(
            f"The push to {req.repo_id} failed; nothing was committed: {e}.{hint}"
        ) from None
    return PushResult(str(url), commit.oid, len(operations))


def registry_entry(registry: Registry | None, model_id: str) -> str:
    """The base model's entry in this registry, in words, for the card."""
    from hub_assets.errors import RegistryError
    from hub_assets.registry.metrics import last_known_revision, latest_gate_result
    from hub_assets.registry.models import status_history

    where = f"`hub-assets status {model_id}`, or `GET /models/{model_id}` on the registry service"
    if registry is None or not registry.exists():
        return f"{model_id} is not in this registry. Look it up with {where}."
    try:
        with registry.read() as con:
            history = status_history(con, model_id)
            known = last_known_revision(con, model_id)
            gate = latest_gate_result(con, model_id, known[0]) if known else None
    except RegistryError:
        return f"The registry could not be read. Look {model_id} up with {where}."
    if not history:
        return f"{model_id} is not in this registry. Look it up with {where}."
    status = history[-1][1]
    line = f"{model_id}: registry status **{status}**"
    if known:
        line += f" at revision `{known[0][:12]}`"
    if gate is not None:
        line += f"; quality gate {'passed' if gate['passed'] else 'failed'}: {gate['message']}"
    return f"{line}. Details: {where}."
