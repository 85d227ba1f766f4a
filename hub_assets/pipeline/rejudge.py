"""Re-judging: approved revisions whose verdict rests on something that has changed are
judged again, and one that fails now is revoked (`pipeline.gate.gate_sha` records it): the
mirror stops serving it, with the cause, and serves the model's last revision that still
passes, if any. Nothing is measured by a model and nothing is downloaded.

- `rescan_stale`: the security verdict was made under other scanners, rule sets or
  allowlist (its comparability key differs from `scanner_basis`'s): the snapshot an
  earlier scan verified is scanned again by the installed engines, then the revision is
  gated again;
- `rejudge_stale`: the verdict was made under another gate config: it is decided again
  from the stored scores.

A scorer bump or a new dataset pin makes evaluations stale instead
(`stale_evaluation_approvals`): those need the model run again, which the shadow
evaluation job does (`stale_evaluations_sensor` starts it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub_assets.comparability import basis_key
from hub_assets.evaluation.datasets import DatasetPin
from hub_assets.evaluation.measurement import SCORER_VERSION
from hub_assets.gate.config import GateConfig
from hub_assets.hub.snapshots import SnapshotStore
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.security_judgment import rescan_security, scanner_basis
from hub_assets.pipeline.gate import gate_sha
from hub_assets.registry.evaluations import stale_evaluations
from hub_assets.registry.metrics import (
    current_revision,
    note_scanner_key,
    revision_metadata,
    revision_metrics,
    scanner_key_known,
    stale_scans,
    stale_verdicts,
    write_metrics,
)
from hub_assets.registry.store import Registry


@dataclass(kw_only=True)
class Regating:
    """What gating revisions again did: those that still pass, those revoked and why."""

    still_passing: int = 0
    revoked: list[tuple[str, str, str]] = field(default_factory=list)  # model, sha, why
    elapsed_s: float = 0.0

    def gate_again(
        self, registry: Registry, model_id: str, sha: str, config: GateConfig, run_id: str
    ) -> None:
        """Gate one revision again under `config` (`gate_sha` revokes it if it fails now)."""
        gated = gate_sha(registry, model_id, sha, config, run_id)
        if gated.decision.passed:
            self.still_passing += 1
        else:
            self.revoked.append((model_id, sha, gated.decision.message))


@dataclass
class Rejudgement(Regating):
    """What one pass of re-judging did."""

    gate_version: str
    judged: int = 0


def stale_approvals(registry: Registry, config: GateConfig) -> list[tuple[str, str, str]]:
    """The approved revisions whose verdict is stale under `config`: (model, sha, the
    version it was judged under)."""
    with registry.read() as con:
        return stale_verdicts(con, config.version)


def rejudge_stale(registry: Registry, config: GateConfig, run_id: str) -> Rejudgement:
    """Judge every stale approved revision again under `config`, revoking those that fail."""
    started = time.perf_counter()
    done = Rejudgement(config.version)
    for model_id, sha, _ in stale_approvals(registry, config):
        done.gate_again(registry, model_id, sha, config, run_id)
        done.judged += 1
    done.elapsed_s = time.perf_counter() - started
    return done


@dataclass
class Rescan(Regating):
    """What one pass of re-scanning did."""

    scanner_key: str
    rescanned: int = 0
    # not re-scanned: its verified snapshot is no longer kept (or no header check is on
    # record); it stays stale, and the next scoring run with the Hub judges it
    waiting: list[tuple[str, str, str]] = field(default_factory=list)


def scanner_key(config: GateConfig) -> str:
    """The comparability key a security verdict made now would have."""
    return basis_key(scanner_basis(config.scanner_allowlist))


def note_scanners(registry: Registry, config: GateConfig) -> str:
    """Record when the installed scanners (with `config`'s allowlist) were first in use,
    once (a read when already recorded); return their key. A scanner upgrade's grace
    period counts from here (`HUB_ASSETS_SCAN_GRACE_HOURS`)."""
    basis = scanner_basis(config.scanner_allowlist)
    key = basis_key(basis)
    with registry.read() as con:
        known = scanner_key_known(con, key)
    if not known:
        with registry.write() as con:
            note_scanner_key(con, key, basis)
    return key


def stale_scan_approvals(registry: Registry, config: GateConfig) -> list[tuple[str, str, str]]:
    """The approved revisions whose security verdict was made under other scanners, rule
    sets or allowlist: (model, sha, the key it was made under)."""
    with registry.read() as con:
        return stale_scans(con, scanner_key(config))


def _evidence(registry: Registry, model_id: str, sha: str) -> tuple:
    """The revision's stored evidence, its adapter base's (or None), its stored verdict;
    a reason instead when something is not on record."""
    with registry.read() as con:
        metadata = revision_metadata(con, model_id, sha)
        previous = revision_metrics(con, model_id, sha).get("security")
        if metadata is None or previous is None:
            return None, None, None, "its metadata or verdict is not stored"
        ev = ModelEvidence.from_metadata(model_id, metadata)
        base_id = ev.adapter_base()
        if base_id is None:
            return ev, None, previous, ""
        found = current_revision(con, base_id)
    if found is None:
        return None, None, None, f"the metadata of its base {base_id} is not stored"
    return ev, ModelEvidence.from_metadata(base_id, found[1]), previous, ""


def rescan_stale(
    registry: Registry, store: SnapshotStore, config: GateConfig, run_id: str
) -> Rescan:
    """Scan every approved revision with a stale security verdict again, on its kept
    verified snapshot, record the new verdict and gate it again under `config`; those
    that fail are revoked."""
    started = time.perf_counter()
    done = Rescan(note_scanners(registry, config))
    for model_id, sha, _ in stale_scan_approvals(registry, config):
        ev, base, previous, missing = _evidence(registry, model_id, sha)
        verdict = (
            rescan_security(ev, store, config.scanner_allowlist, previous, base)
            if ev is not None
            else missing
        )
        if isinstance(verdict, str):
            done.waiting.append((model_id, sha, verdict))
            continue
        with registry.write() as con:
            write_metrics(con, model_id, sha, [verdict.row()], run_id)
        done.rescanned += 1
        done.gate_again(registry, model_id, sha, config, run_id)
    done.elapsed_s = time.perf_counter() - started
    return done


def stale_evaluation_approvals(
    registry: Registry, pins: Sequence[DatasetPin]
) -> list[tuple[str, str, str]]:
    """The approved revisions whose latest evaluation on a set was scored by another
    scorer version, or on a set revision no longer among `pins`: (model, sha, why)."""
    with registry.read() as con:
        return stale_evaluations(con, SCORER_VERSION, [(p.repo_id, p.revision) for p in pins])
