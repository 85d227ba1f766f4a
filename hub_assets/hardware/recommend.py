"""Which approved model to run on a machine with so much RAM: the `recommend` choice.

A model fits when its RAM estimate (hardware/fit.py) at the requested context length is at
most the RAM given. Among those that fit, the best is the highest net score; ties go to
the smaller estimate, then to the model id. Size classes, by parameter count, are for
`hub-assets models --size`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hub_assets.hardware.fit import RamEstimate, estimate_ram
from hub_assets.hardware.footprint import footprint_from_dict

# Size classes by parameter count (docs/metrics.md): [low, high).
SIZE_CLASSES = {
    "small": (0, 1_000_000_000),
    "medium": (1_000_000_000, 10_000_000_000),
    "large": (10_000_000_000, 1 << 62),
}
RUNNERS_UP = 3


def size_class(parameters: int | None) -> str:
    """small (< 1B parameters), medium (1B to 10B), large (≥ 10B), or unknown."""
    if parameters is None:
        return "unknown"
    return next(name for name, (lo, hi) in SIZE_CLASSES.items() if lo <= parameters < hi)


@dataclass(frozen=True)
class Option:
    """One approved model, estimated for the machine asked about."""

    model_id: str
    task: str | None
    net_score: float | None
    parameters: int | None
    quantization: str | None
    estimate: RamEstimate
    ram_bytes: int

    @property
    def fits(self) -> bool:
        return self.estimate.total_bytes <= self.ram_bytes

    @property
    def headroom_bytes(self) -> int:
        return self.ram_bytes - self.estimate.total_bytes

    def as_dict(self) -> dict:
        return {
            "model_id": self.model_id,
            "task": self.task,
            "net_score": self.net_score,
            "parameters": self.parameters,
            "size_class": size_class(self.parameters),
            "quantization": self.quantization,
            "fits": self.fits,
            "headroom_bytes": self.headroom_bytes,
            "estimate": self.estimate.as_dict(),
        }


@dataclass(frozen=True)
class Recommendation:
    """The choice, the runners-up that fit too, and the approved models that do not fit."""

    ram_bytes: int
    context_length: int
    task: str | None
    best: Option | None
    runners_up: list[Option]
    too_big: list[Option]
    unmeasured: list[str]  # approved, but no footprint recorded yet

    def as_dict(self) -> dict:
        return {
            "ram_bytes": self.ram_bytes,
            "context_length": self.context_length,
            "task": self.task,
            "best": self.best.as_dict() if self.best else None,
            "runners_up": [o.as_dict() for o in self.runners_up],
            "too_big": [o.as_dict() for o in self.too_big],
            "unmeasured": self.unmeasured,
        }


def recommend(
    approved: Iterable[Mapping],
    ram_bytes: int,
    context_length: int,
    task: str | None = None,
) -> Recommendation:
    """The best approved model (rows of `registry.hardware.approved_fits`) that fits."""
    options, unmeasured = [], []
    for row in approved:
        if task and row.get("task") != task:
            continue
        fit = row.get("fit")
        if not fit or not fit.get("footprint"):
            unmeasured.append(row["model_id"])
            continue
        fp = footprint_from_dict(fit["footprint"])
        options.append(
            Option(
                row["model_id"],
                row.get("task"),
                row.get("net_score"),
                fp.parameters,
                fp.quantization,
                estimate_ram(fp, context_length),
                ram_bytes,
            )
        )
    fitting = sorted(
        (o for o in options if o.fits),
        key=lambda o: (-(o.net_score or 0.0), o.estimate.total_bytes, o.model_id),
    )
    too_big = sorted((o for o in options if not o.fits), key=lambda o: o.estimate.total_bytes)
    return Recommendation(
        ram_bytes,
        context_length,
        task,
        fitting[0] if fitting else None,
        fitting[1 : 1 + RUNNERS_UP],
        too_big,
        sorted(unmeasured),
    )
