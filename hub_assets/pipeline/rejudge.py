"""Re-judging: approved revisions whose verdict was made under another gate config are
judged again under the current one, from their stored scores (nothing is measured or
downloaded). One that fails now is revoked (`pipeline.gate.gate_sha` records it): the
mirror stops serving it, with the cause, and serves the model's last revision that still
passes, if any."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hub_assets.gate.config import GateConfig
from hub_assets.pipeline.gate import gate_sha
from hub_assets.registry.metrics import stale_verdicts
from hub_assets.registry.store import Registry


@dataclass
class Rejudgement:
    """What one pass of re-judging did."""

    gate_version: str
    judged: int = 0
    still_passing: int = 0
    revoked: list[tuple[str, str, str]] = field(default_factory=list)  # model, sha, why
    elapsed_s: float = 0.0


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
        gated = gate_sha(registry, model_id, sha, config, run_id)
        done.judged += 1
        if gated.decision.passed:
            done.still_passing += 1
        else:
            done.revoked.append((model_id, sha, gated.decision.message))
    done.elapsed_s = time.perf_counter() - started
    return done
