"""Which listed models become candidates: a license allowlist, libraries, weights, popularity."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

# Weight formats a candidate must ship one of; add "gguf" (and the "gguf" library) to take
# GGUF repos (docs/discovery.md).
WEIGHT_FORMATS = ("safetensors", "gguf")


@dataclass(frozen=True)
class CandidateFilter:
    """The rules a listed model must pass to become a candidate.

    Its values come from the settings (`pipeline.discover.candidate_filter_from`), where
    their defaults are written. Licenses are matched case-insensitively and may be globs
    (`*-openrail-*` admits `creativeml-openrail-m`, `bigscience-openrail-m`...).
    """

    licenses: tuple[str, ...]
    libraries: tuple[str, ...]
    require_safetensors: bool  # False: no weight-format requirement at all
    weight_formats: tuple[str, ...]  # one of them is needed
    min_downloads: int
    min_likes: int
    exclude_gated: bool = False

    def __post_init__(self) -> None:
        unknown = [f for f in self.weight_formats if f not in WEIGHT_FORMATS]
        if unknown or not self.weight_formats:
            raise ValueError(
                f"Unknown weight format(s) {unknown}: expected some of {', '.join(WEIGHT_FORMATS)}."
            )

    def reasons(self, model: dict) -> list[str]:
        """Why a model (a listing record) is filtered out; empty when it is a candidate."""
        out = []
        lic = (model.get("license") or "").lower()
        if not lic:
            out.append("no license declared")
        elif not any(fnmatch.fnmatchcase(lic, pat.lower()) for pat in self.licenses):
            out.append(f"license {lic} not in allowlist")
        lib = model.get("library_name")
        tags = model.get("tags") or []
        if not (lib in self.libraries or any(t in self.libraries for t in tags)):
            out.append(f"library {lib or 'unknown'} not in {', '.join(self.libraries)}")
        if self.require_safetensors and not any(model.get(f"has_{f}") for f in self.weight_formats):
            out.append(f"no {' or '.join(self.weight_formats)} weights")
        if model.get("downloads", 0) < self.min_downloads:
            out.append(f"downloads {model.get('downloads', 0)} < {self.min_downloads}")
        if model.get("likes", 0) < self.min_likes:
            out.append(f"likes {model.get('likes', 0)} < {self.min_likes}")
        if self.exclude_gated and model.get("gated"):
            out.append("gated")
        return out
