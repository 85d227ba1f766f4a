"""Trust metrics from Hub metadata: pure functions of `ModelEvidence`, each in [0, 1].

Every function returns a `MetricResult` with the value, a reason a person can check, and the
inputs it used (fingerprinted for lineage). Definitions and worked examples: docs/metrics.md.
Bump a metric's entry in `CODE_VERSIONS` whenever its formula changes.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hub_assets.hardware.fit import DEFAULT_CONTEXT, DeviceProfile, device_fit, estimate_ram
from hub_assets.hardware.footprint import Footprint
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.table import CODE_VERSIONS, NET_WEIGHTS  # noqa: F401 - re-exported


@dataclass
class MetricResult:
    """One metric's value for one model revision, why, and from what."""

    value: float
    reason: str
    inputs: dict = field(default_factory=dict)
    details: dict | None = None  # e.g. size_score per device

    def __post_init__(self) -> None:
        self.value = round(min(1.0, max(0.0, float(self.value))), 4)


# A figure in prose: "0.83", "83 %", "12".
NUMBER = re.compile(r"\b\d+(\.\d+)?\s*%?")


# -- license ------------------------------------------------------------------------------------
PERMISSIVE = (
    "apache-2.0",
    "mit",
    "bsd",
    "bsd-2-clause",
    "bsd-3-clause",
    "isc",
    "unlicense",
    "cc0-1.0",
    "cc-by-4.0",
    "cc-by-3.0",
    "openrail",
    "openrail++",
    "*-openrail-*",
    "openrail-*",
    "bsl-1.0",
    "zlib",
    "artistic-2.0",
    "afl-3.0",
    "ecl-2.0",
    "pddl",
    "odc-by",
)
WEAK_COPYLEFT = ("lgpl-*", "mpl-2.0", "epl-*", "cc-by-sa-*", "llama*", "gemma", "other")


def license_score(ev: ModelEvidence) -> MetricResult:
    """1.0 permissive; 0.5 usable with conditions (weak copyleft, custom or 'other' licenses
    that need a legal read); 0.0 strong copyleft, non-commercial, or none declared."""
    lic = ev.license
    inputs = {"license": lic}
    if not lic:
        return MetricResult(0.0, "no license declared in the card or tags", inputs)
    if any(fnmatch.fnmatchcase(lic, p) for p in PERMISSIVE):
        return MetricResult(1.0, f"{lic}: permissive", inputs)
    if any(fnmatch.fnmatchcase(lic, p) for p in WEAK_COPYLEFT):
        return MetricResult(0.5, f"{lic}: usable with conditions; needs a legal review", inputs)
    if lic.startswith(("gpl", "agpl")):
        return MetricResult(0.0, f"{lic}: strong copyleft, incompatible with closed use", inputs)
    if "-nc" in lic or "noncommercial" in lic:
        return MetricResult(0.0, f"{lic}: non-commercial use only", inputs)
    return MetricResult(0.0, f"{lic}: not a license we recognise", inputs)


# -- size ---------------------------------------------------------------------------------------
def size_score(
    fp: Footprint,
    devices: Mapping[str, DeviceProfile],
    target_device: str = "jetson_nano",
    context_length: int = DEFAULT_CONTEXT,
) -> MetricResult:
    """Fit per device: 1 − estimated RAM / the device's RAM, floored at 0 (hardware/fit.py).

    The estimate is weights + KV cache at `context_length` + runtime overhead, from the
    weights' headers (docs/metrics.md, "Hardware fit"). The value is the target device's
    fit; `details` holds every device's, the estimate and the footprint.
    """
    if target_device not in devices:
        raise ValueError(
            f"Unknown target device {target_device!r}: expected one of {', '.join(devices)}."
        )
    est = estimate_ram(fp, context_length)
    per_device = {d: device_fit(est, p) for d, p in devices.items()}
    inputs = {
        "footprint": fp.as_dict(),
        "context_length": context_length,
        "devices": {d: p.ram_bytes for d, p in devices.items()},
        "target_device": target_device,
    }
    details = {"per_device": per_device, "estimate": est.as_dict(), "footprint": fp.as_dict()}
    if not fp.weight_files:
        return MetricResult(
            0.0, "no weight files", inputs, {**details, "per_device": {d: 0.0 for d in devices}}
        )
    params = f"{fp.parameters / 1e6:,.1f}M parameters" if fp.parameters else "parameters unknown"
    return MetricResult(
        per_device[target_device],
        f"needs ~{est.total_bytes / 1024**3:.2f} GiB on {est.runtime} at {context_length} "
        f"tokens ({params}, {fp.quantization or '?'}; weights "
        f"{est.weights_bytes / 1024**2:,.0f} MiB, KV {est.kv_cache_bytes / 1024**2:,.0f} MiB, "
        f"overhead {est.overhead_bytes / 1024**2:,.0f} MiB); {target_device} has "
        f"{devices[target_device].ram_gb:g} GiB",
        inputs,
        details,
    )


# -- ramp-up time -------------------------------------------------------------------------------
_LOAD_CALL = re.compile(r"from_pretrained|pipeline\(|SentenceTransformer\(")


def ramp_up_time(ev: ModelEvidence) -> MetricResult:
    """How fast a newcomer gets it running: runnable usage code in the card (0.4), a usage
    section (0.15), documentation length (up to 0.15 at 1,500 characters of prose),
    intended uses or limitations (0.1), tokenizer and config present (0.2)."""
    code = [b for b in ev.python_blocks() if _LOAD_CALL.search(b.code) and b.parses()]
    heads = ev.headings()
    usage = any(
        w in h
        for h in heads
        for w in ("usage", "how to use", "quick start", "getting started", "example")
    )
    intended = any(w in h for h in heads for w in ("intended use", "limitation", "bias"))
    prose = ev.prose_length()
    ready = ev.config is not None and ev.has_tokenizer()
    parts = {
        "usage_code": 0.4 if code else 0.0,
        "usage_section": 0.15 if usage else 0.0,
        "documentation": 0.15 * min(prose / 1500, 1.0),
        "intended_uses": 0.1 if intended else 0.0,
        "config_and_tokenizer": 0.2 if ready else 0.0,
    }
    missing = [k for k, v in parts.items() if v == 0]
    return MetricResult(
        sum(parts.values()),
        "missing: " + ", ".join(missing) if missing else "usage code, docs, config and tokenizer",
        {"code": [b.code for b in code], "headings": heads, "prose": prose, "ready": ready},
        {k: round(v, 4) for k, v in parts.items()},
    )


# -- bus factor ---------------------------------------------------------------------------------
def bus_factor(ev: ModelEvidence, now: datetime) -> MetricResult:
    """0.7 × min(distinct commit authors / 3, 1) + 0.3 × recency, where recency is 1 within a
    year of the last commit and falls linearly to 0 at four years."""
    authors = ev.authors()
    dates = ev.commit_dates()
    if not dates:
        return MetricResult(0.0, "no commit history", {"authors": []})
    age_days = (now - max(dates)).days
    recency = 1.0 if age_days <= 365 else max(0.0, 1 - (age_days - 365) / (3 * 365))
    value = 0.7 * min(len(authors) / 3, 1.0) + 0.3 * recency
    return MetricResult(
        value,
        f"{len(authors)} author(s), last commit {age_days} days ago",
        {
            "authors": sorted(authors),
            "last_commit": max(dates).isoformat(),
            "as_of": now.date().isoformat(),
        },
    )


# -- datasets and code --------------------------------------------------------------------------
_CODE_FILE = re.compile(r"\.(py|ipynb|sh)$")


def dataset_and_code_score(ev: ModelEvidence) -> MetricResult:
    """Half for the training data (declared in YAML 0.3; described in a data section 0.2),
    half for code (usage code in the card 0.3; training or example code in the repo 0.2)."""
    datasets = ev.declared_datasets()
    data_section = ev.section("training data", "dataset", "data")
    code_blocks = [b for b in ev.python_blocks() if b.parses()]
    repo_code = sorted(p for p in ev.files if _CODE_FILE.search(p))
    parts = {
        "datasets_declared": 0.3 if datasets else 0.0,
        "data_described": 0.2 if len(data_section) >= 80 else 0.0,
        "usage_code": 0.3 if code_blocks else 0.0,
        "repo_code": 0.2 if repo_code else 0.0,
    }
    missing = [k for k, v in parts.items() if not v]
    return MetricResult(
        sum(parts.values()),
        "missing: " + ", ".join(missing) if missing else "data and code documented",
        {
            "datasets": datasets,
            "data_section": data_section[:2000],
            "code": [b.code for b in code_blocks],
            "repo_code": repo_code,
        },
        parts,
    )


def _data_documentation(ev: ModelEvidence) -> tuple[float, str]:
    """How well the card documents training data it names but the Hub cannot show."""
    section = ev.section("training data", "dataset")
    table_rows = sum(1 for line in section.splitlines() if line.strip().startswith("|"))
    sized = bool(NUMBER.search(section))
    referenced = "http" in section or "arxiv" in section.lower() or "](" in section
    config_file = any(
        p.rsplit("/", 1)[-1] in ("data_config.json", "dataset_config.json") for p in ev.files
    )
    if table_rows >= 3 and sized and referenced:
        score, how = 0.6, "a table of the datasets with sizes and references"
    elif len(section) >= 80:
        score, how = 0.3, "a training-data section"
    else:
        score, how = 0.1, "names only"
    if config_file:
        score, how = score + 0.1, how + " and a data config file in the repo"
    return score, how


def dataset_quality(ev: ModelEvidence, dataset_cards: Mapping[str, dict | None]) -> MetricResult:
    """Mean over the declared training datasets. A dataset found on the Hub scores its own
    card: license (0.4), documentation ≥ 300 characters (0.3), data files (0.3). One the Hub
    cannot show scores what the model card tells about it: 0.1 a name only, 0.3 a
    training-data section, 0.6 a table with sizes and references; +0.1 for a data config
    file in the repo. No dataset declared: 0."""
    datasets = ev.declared_datasets()
    if not datasets:
        return MetricResult(0.0, "no training dataset declared", {})
    doc_score, how = _data_documentation(ev)
    scores = {}
    for name in datasets:
        card = dataset_cards.get(name)
        if card is None:
            scores[name] = doc_score
            continue
        scores[name] = (
            (0.4 if card.get("license") else 0.0)
            + (0.3 if card.get("prose_length", 0) >= 300 else 0.0)
            + (0.3 if card.get("data_files", 0) > 0 else 0.0)
        )
    found = [n for n in datasets if dataset_cards.get(n) is not None]
    reason = f"{len(found)} of {len(datasets)} dataset(s) on the Hub"
    if len(found) < len(datasets):
        reason += f"; for the others the card gives {how}"
    return MetricResult(
        sum(scores.values()) / len(scores),
        reason,
        {"datasets": {n: dataset_cards.get(n) for n in datasets}, "documentation": how},
        {"per_dataset": scores},
    )


def code_quality(ev: ModelEvidence) -> MetricResult:
    """Mean of the checks that apply: card Python snippets parse; a snippet loads this model
    by its id; code files the card names exist in the repo; config.json names a known
    `model_type` and its architectures."""
    checks: dict[str, float] = {}
    blocks = ev.python_blocks()
    if blocks:
        checks["snippets_parse"] = sum(b.parses() for b in blocks) / len(blocks)
        checks["snippet_loads_this_model"] = float(any(ev.model_id in b.code for b in blocks))
    named = set(re.findall(r"`([\w./-]+\.py)`", ev.card_text))
    if named:
        checks["named_code_present"] = sum(
            any(p.endswith(n) for p in ev.files) for n in named
        ) / len(named)
    if ev.config is not None:
        from transformers import CONFIG_MAPPING

        known = ev.config.get("model_type") in CONFIG_MAPPING
        checks["config_valid"] = 1.0 if known and ev.config.get("architectures") else 0.0
    if not checks:
        return MetricResult(0.0, "no code and no config to check", {})
    weak = [k for k, v in checks.items() if v < 1]
    return MetricResult(
        sum(checks.values()) / len(checks),
        "weak: " + ", ".join(weak) if weak else "all code checks pass",
        {
            "code": [b.code for b in blocks],
            "named": sorted(named),
            "files": sorted(ev.files),
            "config": ev.config,
        },
        checks,
    )


# -- lineage and the net score ----------------------------------------------------------------


def net_score(values: Mapping[str, float]) -> MetricResult:
    """The weighted sum of `NET_WEIGHTS` (weights sum to 1)."""
    missing = [m for m in NET_WEIGHTS if m not in values]
    if missing:
        raise ValueError(f"net_score needs every metric; missing {missing}")
    total = sum(NET_WEIGHTS[m] * values[m] for m in NET_WEIGHTS)
    return MetricResult(
        total, "weighted sum (docs/metrics.md)", {m: values[m] for m in NET_WEIGHTS}
    )


def tree_score(
    edges: Sequence[tuple[str, str]],
    parent_net_scores: Mapping[str, float | None],
    own_net_without_tree: float,
) -> MetricResult:
    """Mean net score of the model's parents in the model tree (its `(parent, relation)`
    edges: adapter, finetune, quantized, merge) that the registry has scored; a model with
    no scored parent takes its own net score (so lineage neither helps nor hurts it)."""
    relations = {p: r for p, r in edges}
    known = {p: s for p, s in parent_net_scores.items() if p in relations and s is not None}
    inputs = {"parents": relations, "parent_scores": known}
    if known:
        return MetricResult(
            sum(known.values()) / len(known),
            "mean net score of " + ", ".join(f"{p} ({relations[p]})" for p in sorted(known)),
            inputs,
        )
    why = "no parent in the model tree" if not edges else f"parents not scored: {sorted(relations)}"
    inputs["own"] = round(own_net_without_tree, 4)
    return MetricResult(own_net_without_tree, f"{why}; own net score", inputs)
