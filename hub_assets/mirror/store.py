"""The curated mirror's `RepoStore`: one repo per approved model, holding exactly the
approved revision, its files read from the package zip.

What the registry approves is read at most every `refresh_s` seconds (a request that finds
the view older refreshes it; the others keep answering from the last one). A package is
verified (the zip's sha256 against the registry's record, every member stored and of the
manifest's size) before its model is shown; the check runs again whenever the stored
object changes (size, mtime and inode locally; ETag on S3, looked at every `refresh_s`).
A package that fails is not served, and the mirror logs why.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hub_assets.errors import (
    HubAssetsError,
    HubError,
    PackageIntegrityError,
    UnverifiedPackageError,
)
from hub_assets.gate.config import GateConfig
from hub_assets.gate.profiles import ProfileSet
from hub_assets.hub.hashing import file_sha256
from hub_assets.hub_protocol.repos import (
    CURRENT_CALLER,
    BlobWindow,
    Commit,
    FileEntry,
    Repo,
    git_blob_sha1,
    is_lfs,
    lfs_pointer_oid,
)
from hub_assets.mirror.hub_fields import (
    card_additions,
    eval_results,
    security_repo_status,
    tree_tags,
)
from hub_assets.mirror.packages import MODEL_PREFIX, Member, member_spans
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.profiles import ProfileView, profile_views
from hub_assets.proof.signature import verify_signature
from hub_assets.proof.verify import SIGNATURE
from hub_assets.registry.access_requests import accepted_grants
from hub_assets.registry.approved import (
    ApprovedPackage,
    HiddenReason,
    approved_packages,
    hidden_reason,
)
from hub_assets.registry.judgment import revision_judgment
from hub_assets.registry.store import Registry

log = logging.getLogger("hub_assets.mirror")

# What a model or revision the mirror does not serve answers: 403 with the X-Error-Code
# that huggingface_hub raises as GatedRepoError, which transformers and sentence-transformers
# show with our message (a plain 403 reads "couldn't connect" in transformers; a 404 loses
# the message).
NOT_SERVED = (403, "GatedRepo")
# How a refused caller asks for the model (the Hub's gated-access request, `access_requests`).
REQUEST_HINT = (
    "To ask for it: POST $HF_ENDPOINT/{repo_id}/ask-access with your registry token "
    "(docs/mirror.md, Asking for a model)."
)


@dataclass
class _Verified:
    """A package checked against the registry, as of one stamp of the stored object."""

    stamp: str
    checked_at: float
    repo: Repo | None  # None when the check failed
    spans: dict[str, Member]
    failure: str = ""


def _iso(dt: datetime | str | None) -> str | None:
    if dt is None or isinstance(dt, str):
        return dt
    return dt.isoformat().replace("+00:00", "Z")


class ApprovedStore:
    """Approved packages as Hub repos (models only; datasets are not mirrored)."""

    def __init__(
        self,
        registry: Registry,
        packages: PackageStore,
        *,
        require_promoted: bool = False,
        refresh_s: float = 2.0,
        verify_key: Path | None = None,
        service_url: str | None = None,
        profiles: ProfileSet | None = None,
        gate_config: GateConfig | None = None,
    ) -> None:
        if profiles is not None and gate_config is None:
            raise ValueError("Policy profiles narrow a gate config: pass gate_config too.")
        self.registry, self.packages = registry, packages
        # each caller's token selects one of `profiles` (None: one policy for everyone)
        self.profiles, self.gate_config = profiles, gate_config
        self._views: dict[str, ProfileView] = {}
        self.service_url = service_url  # evalResults link to the service's model page
        self.require_promoted, self.refresh_s = require_promoted, refresh_s
        self.verify_key = verify_key  # set: serve only packages signed with this key
        self._approved: dict[str, ApprovedPackage] = {}  # lower-cased model id -> package
        # what passed the gate and is packaged, promoted or not, and who may read it through
        # an accepted access request (lower-cased model id, username)
        self._servable: dict[str, ApprovedPackage] = {}
        self._grants: set[tuple[str, str]] = set()
        self._reasons: dict[str, HiddenReason | None] = {}
        self._loaded_at = float("-inf")
        self._refreshing = threading.Lock()
        self._verifying: dict[str, threading.Lock] = {}
        self._verified: dict[str, _Verified] = {}  # package id -> last check
        # sha256 -> {package id: (zip uri, span)}: the same file may be in several packages
        self._blobs: dict[str, dict[str, tuple[str, Member]]] = {}
        self._lock = threading.Lock()

    # -- what is approved ------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the approved packages from the registry now."""
        with self.registry.read() as con:
            approved = approved_packages(con, self.require_promoted)
            servable = approved_packages(con, False) if self.require_promoted else approved
            grants = accepted_grants(con)
        views = {}
        if self.profiles is not None:
            views = profile_views(
                self.registry, self.gate_config, self.profiles, self.require_promoted
            )
        with self._lock:
            self._views = views
            self._approved = {m.lower(): p for m, p in approved.items()}
            self._servable = {m.lower(): p for m, p in servable.items()}
            self._grants = grants
            self._reasons = {}
            self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        """Make the next request read the registry again (after a promote or retire)."""
        with self._lock:
            self._loaded_at = float("-inf")

    def _current(self) -> dict[str, ApprovedPackage]:
        """The approved package of each model (lower-cased id), for the caller's profile."""
        self._refreshed()
        view = self._caller_view()
        return self._approved if view is None else view.approved

    def _caller_view(self) -> ProfileView | None:
        """The view of the caller's profile (None: no profiles); a 403 for a token whose
        profile this mirror does not have (it fails closed, never to another profile)."""
        if self.profiles is None:
            return None
        caller = CURRENT_CALLER.get()
        name = (caller.profile if caller is not None else None) or self.profiles.default
        view = self._views.get(name)
        if view is None:
            raise HubError(
                *NOT_SERVED,
                f"Your token selects the profile {name!r}, which this mirror does not have "
                f"(its profiles: {', '.join(self.profiles.profiles)}). Ask an admin for a "
                "token of one of them.",
                reason="unknown_profile",
            )
        return view

    def _refreshed(self) -> None:
        stale = time.monotonic() - self._loaded_at >= self.refresh_s
        first = self._loaded_at == float("-inf")
        if stale and self._refreshing.acquire(blocking=first):
            try:
                if time.monotonic() - self._loaded_at >= self.refresh_s:
                    self.refresh()
            except HubAssetsError as e:
                if self._loaded_at == float("-inf") and not self._approved:
                    raise HubError(503, None, f"The mirror cannot read the registry: {e}") from e
                log.warning("Serving the last approved view: the registry is unreadable: %s", e)
            finally:
                self._refreshing.release()

    def _reason(self, model_id: str) -> HiddenReason | None:
        key = model_id.lower()
        if key not in self._reasons:
            with self.registry.read() as con:
                reason = hidden_reason(con, model_id, self.require_promoted)
            with self._lock:
                self._reasons[key] = reason
        return self._reasons[key]

    # -- RepoStore ---------------------------------------------------------------------------
    def repos(self, repo_type: str) -> Sequence[Repo]:
        """Every approved model whose package verifies, by id."""
        if repo_type != "model":
            return []
        out = []
        for package in sorted(self._current().values(), key=lambda p: p.model_id):
            check = self._verify(package)
            if check.repo is not None:
                out.append(check.repo)
        return out

    def repo(self, repo_type: str, repo_id: str) -> Repo | None:
        """The approved model (any case of its id); a 403 saying why for a model the
        registry knows but does not approve; None for one it has never seen."""
        if repo_type != "model":
            return None
        package = self._current().get(repo_id.lower())
        granted = package is None and (package := self._granted(repo_id)) is not None
        if package is None:
            view = self._caller_view()
            reason = view.refused.get(repo_id.lower()) if view is not None else None
            reason = reason or self._reason(repo_id)
            if reason is None:
                return None
            raise HubError(
                *NOT_SERVED,
                f"{repo_id} is not approved on this mirror: {reason.text} "
                f"{REQUEST_HINT.format(repo_id=repo_id)}",
                reason=reason.kind,
            )
        check = self._verify(package)
        if check.repo is None:
            raise HubError(
                *NOT_SERVED,
                f"{package.model_id} is not served: its package {package.name} "
                f"{package.version} failed verification ({check.failure}).",
                reason="package_unverified",
            )
        if granted:  # open to this caller through an accepted request: a gated repo to them
            return dataclasses.replace(check.repo, meta={**check.repo.meta, "gated": "manual"})
        return check.repo

    def _granted(self, repo_id: str) -> ApprovedPackage | None:
        """The servable package of a model the caller's accepted access request opens."""
        caller = CURRENT_CALLER.get()
        key = repo_id.lower()
        if caller is None or (key, caller.name) not in self._grants:
            return None
        view = self._caller_view()  # a grant opens what the profile approves, unpromoted
        return (self._servable if view is None else view.servable).get(key)

    def open_blob(self, entry: FileEntry) -> BlobWindow:
        """The file's bytes inside a package zip that passed its last verification."""
        with self._lock:
            places = dict(self._blobs.get(entry.sha256, {}))
        for package_id, (uri, member) in places.items():
            check = self._verified.get(package_id)
            if check is not None and check.repo is not None:
                return BlobWindow(self.packages.open_recorded(uri), member.offset, member.size)
        raise HubError(
            *NOT_SERVED,
            f"{entry.path} is in no package that verifies now.",
            reason="package_unverified",
        )

    # -- verification --------------------------------------------------------------------------
    def _verify(self, package: ApprovedPackage) -> _Verified:
        known = self._verified.get(package.package_id)
        now = time.monotonic()
        if known is not None and (
            self.packages.is_local is False and now - known.checked_at < self.refresh_s
        ):
            return known
        with self._lock:
            lock = self._verifying.setdefault(package.package_id, threading.Lock())
        with lock:
            try:
                stamp = self.packages.stamp(package.uri)
            except HubAssetsError as e:
                return self._failed(package, "", str(e))
            known = self._verified.get(package.package_id)
            if known is not None and known.stamp == stamp:
                known.checked_at = now
                return known
            return self._check(package, stamp)

    def _failed(self, package: ApprovedPackage, stamp: str, why: str) -> _Verified:
        log.error(
            "Not serving %s: package %s %s (%s) failed verification: %s",
            package.model_id,
            package.name,
            package.version,
            package.uri,
            why,
        )
        result = _Verified(stamp, time.monotonic(), None, {}, why)
        self._verified[package.package_id] = result
        return result

    def _check(self, package: ApprovedPackage, stamp: str) -> _Verified:
        files = package.manifest.get("files", [])
        expected = {f["path"]: int(f["size"]) for f in files}
        try:
            with self.packages.open_recorded(package.uri) as f:
                digest = file_sha256(f)
                if digest != package.sha256:
                    raise PackageIntegrityError(
                        f"the zip's sha256 is {digest}, the registry recorded {package.sha256}"
                    )
                if self.verify_key is not None:
                    self._check_signature(package, digest)
                spans = member_spans(f, expected)
                entries = [self._entry(f, spec, spans[spec["path"]]) for spec in files]
        except (PackageIntegrityError, HubAssetsError, OSError) as e:
            return self._failed(package, stamp, str(e))
        repo = self._repo(package, entries)
        with self._lock:
            for spec, entry in zip(files, entries, strict=True):
                places = self._blobs.setdefault(entry.sha256, {})
                places[package.package_id] = (package.uri, spans[spec["path"]])
        result = _Verified(stamp, time.monotonic(), repo, spans)
        self._verified[package.package_id] = result
        log.info("Verified %s %s for %s", package.name, package.version, package.model_id)
        return result

    def _check_signature(self, package: ApprovedPackage, digest: str) -> None:
        """The package's signature, beside it in the store, is by the configured key and
        over these bytes."""
        bundle = self.packages.read_beside(package.uri, SIGNATURE)
        if bundle is None:
            raise UnverifiedPackageError(
                "signature: none (the package is unsigned), and this mirror serves only "
                "packages signed with its verify key"
            )
        verify_signature(bundle, digest, public_key=self.verify_key)

    @staticmethod
    def _entry(f: object, spec: dict, member: Member) -> FileEntry:
        path, size, sha256 = spec["path"][len(MODEL_PREFIX) :], int(spec["size"]), spec["sha256"]
        lfs = spec.get("lfs")
        if lfs is None:  # packages made before the manifest recorded it
            lfs = is_lfs(path, size)
        git_oid = spec.get("git_oid")
        if lfs:
            git_oid = git_oid or lfs_pointer_oid(sha256, size)
        elif not git_oid:
            window = BlobWindow(f, member.offset, member.size)  # type: ignore[arg-type]
            git_oid = git_blob_sha1(window, member.size)
        return FileEntry(path=path, size=size, sha256=sha256, git_oid=git_oid, lfs=bool(lfs))

    def _repo(self, package: ApprovedPackage, entries: list[FileEntry]) -> Repo:
        sha = package.revision_sha
        commit = Commit(
            sha=sha,
            parents=(),
            authors=("hub-assets",),
            title=f"{package.name} {package.version}",
            message=f"Approved by hub-assets: package {package.name} {package.version}.",
            date=package.last_modified or _iso(package.created_at) or "",
            files={e.path: e for e in entries},
        )
        model_id = package.model_id
        with self.registry.read() as con:
            judgment = revision_judgment(con, model_id, sha)
        source = f"{self.service_url.rstrip('/')}/models/{model_id}" if self.service_url else None

        def refuse(revision: str) -> HubError:
            return HubError(
                *NOT_SERVED,
                f"Revision {revision!r} of {model_id} is not approved on this mirror; the "
                f"approved revision is {sha} (package {package.name} {package.version}). "
                "Ask for revision 'main' or that sha.",
                reason="revision_not_approved",
            )

        return Repo(
            repo_type="model",
            repo_id=model_id,
            meta={
                "downloads": package.downloads,
                "likes": package.likes,
                "pipeline_tag": package.pipeline_tag,
                "library_name": package.library_name,
                "createdAt": _iso(package.model_created_at),
                # the registry's judgment in the Hub's own fields (mirror/hub_fields.py)
                "securityRepoStatus": security_repo_status(judgment, commit.files),
                "evalResults": eval_results(judgment, source),
                "cardData": card_additions(judgment),
                "tags": tree_tags(judgment),
            },
            refs={"main": sha},
            commits={sha: commit},
            refuse_revision=refuse,
        )
