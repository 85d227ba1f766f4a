"""Licence obligations through the model tree: what a model inherits from every ancestor.

Each licence identifier (the Hub's ids; SPDX expressions parsed with `license-expression`)
maps to the obligations it puts on a model built from it. A model's obligations are its
own plus every ancestor's, each kept with where it comes from. Three findings:

- **permissive-washing**: the model declares a permissive licence over an ancestor whose
  licence restricts use (non-commercial, no derivatives, share-alike, acceptable-use
  policy, no redistribution);
- **missing NOTICE**: an ancestor ships a NOTICE file its licence requires to be kept
  (Apache-2.0 §4d), and the model has none;
- **unknown licence**: a licence anywhere in the chain is missing or not one we know, or an
  ancestor's metadata could not be read.

The gate config says what the company may do (`allowed_uses`); an inherited obligation
that forbids an allowed use fails the model, with the chain in the message. Findings whose
kind is in `licence_findings_fail` fail it too (default: permissive-washing and a missing
NOTICE); the others are reported and score 0.5. docs/metrics.md has the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hub_assets.metrics.trust import MetricResult

USES = ("commercial_use", "redistribution", "modification")
FINDINGS = ("permissive_washing", "missing_notice", "unknown_licence")
FAILING_FINDINGS = ("permissive_washing", "missing_notice")
# what each obligation means, and the uses it forbids
OBLIGATIONS: dict[str, tuple[str, frozenset[str]]] = {
    "attribution": ("credit the authors", frozenset()),
    "notice": ("keep the NOTICE file", frozenset()),
    "non_commercial": ("no commercial use", frozenset({"commercial_use"})),
    "no_derivatives": ("no modified versions", frozenset({"modification"})),
    "share_alike": ("derivatives under the same licence", frozenset()),
    "acceptable_use": ("an acceptable-use policy binds every user", frozenset()),
    "no_redistribution": ("no redistribution", frozenset({"redistribution"})),
}
RESTRICTIVE = frozenset(
    {"non_commercial", "no_derivatives", "share_alike", "acceptable_use", "no_redistribution"}
)
_BY = frozenset({"attribution"})
TERMS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("mit", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "isc"), _BY),
    **dict.fromkeys(("zlib", "postgresql", "ncsa", "bsl-1.0", "afl-3.0", "ecl-2.0"), _BY),
    **dict.fromkeys(("cc0-1.0", "unlicense", "wtfpl", "pddl", "odc-by"), frozenset()),
    "apache-2.0": frozenset({"attribution", "notice"}),
    **dict.fromkeys(("cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0"), _BY),
    **dict.fromkeys(("cc-by-sa-3.0", "cc-by-sa-4.0", "odbl"), _BY | {"share_alike"}),
    **dict.fromkeys(("cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0"), _BY | {"non_commercial"}),
    **dict.fromkeys(
        ("cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0"),
        _BY | {"non_commercial", "share_alike"},
    ),
    **dict.fromkeys(
        ("cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0"), _BY | {"non_commercial", "no_derivatives"}
    ),
    "cc-by-nd-4.0": _BY | {"no_derivatives"},
    **dict.fromkeys(
        ("gpl", "gpl-2.0", "gpl-3.0", "agpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "lgpl-lr"),
        _BY | {"share_alike"},
    ),
    **dict.fromkeys(
        ("mpl-2.0", "epl-1.0", "epl-2.0", "eupl-1.1", "osl-3.0", "cdla-sharing-1.0"),
        _BY | {"share_alike"},
    ),
    "cdla-permissive-1.0": _BY,
    "cdla-permissive-2.0": _BY,
    **dict.fromkeys(
        (
            "openrail",
            "openrail++",
            "creativeml-openrail-m",
            "bigscience-openrail-m",
            "bigscience-bloom-rail-1.0",
            "bigcode-openrail-m",
        ),
        frozenset({"acceptable_use"}),
    ),
    **dict.fromkeys(
        ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma"),
        _BY | {"acceptable_use"},
    ),
}


def obligations_of(license_id: str | None) -> frozenset[str] | None:
    """The obligations of a licence id or SPDX expression; None when unknown. For `A OR B`
    the licensee may pick, so the choice with the fewest restrictions counts; for `A AND
    B`, both apply."""
    if not license_id:
        return None
    text = str(license_id).strip().lower()
    if text in TERMS:
        return TERMS[text]
    from license_expression import AND, OR, Licensing

    try:
        parsed = Licensing().parse(text)
    except Exception:  # noqa: BLE001 - any unparseable id is unknown
        return None

    def walk(node: object) -> frozenset[str] | None:
        if isinstance(node, OR):
            options = [walk(a) for a in node.args]
            known = [o for o in options if o is not None]
            return min(known, key=lambda o: (len(o & RESTRICTIVE), len(o))) if known else None
        if isinstance(node, AND):
            parts = [walk(a) for a in node.args]
            return None if any(p is None for p in parts) else frozenset().union(*parts)
        return TERMS.get(str(getattr(node, "key", node)).lower())

    return walk(parsed)


@dataclass(frozen=True)
class Ancestor:
    """One model up the tree from the judged one."""

    model_id: str
    parent_of: str  # the child it is a base of
    relation: str  # adapter, finetune, quantized, merge
    depth: int
    license: str | None
    files: frozenset[str]
    known: bool  # its metadata could be read


def _notice(files: Iterable[str]) -> bool:
    return any(f.rsplit("/", 1)[-1].upper().startswith("NOTICE") for f in files)


def chain_text(model_id: str, own: str | None, ancestors: Sequence[Ancestor]) -> str:
    """`org/ft (apache-2.0) ← org/base (cc-by-nc-4.0)`: the model and its ancestry."""
    parts = [f"{model_id} ({own or 'no licence'})"]
    for a in sorted(ancestors, key=lambda a: (a.depth, a.model_id)):
        lic = a.license if a.known else "metadata unreadable"
        parts.append(f"{a.model_id} ({lic or 'no licence'}, {a.relation})")
    return " ← ".join(parts)


def licence_obligations(
    model_id: str,
    own_license: str | None,
    own_files: Iterable[str],
    ancestors: Sequence[Ancestor],
    allowed_uses: Sequence[str],
    failing: Sequence[str] = FAILING_FINDINGS,
) -> MetricResult:
    """1.0 when nothing inherited conflicts with the allowed uses and nothing is found;
    0.5 when only findings outside `failing` apply (reported, not failed); else 0.0. The
    chain, every obligation with its source, and the findings are in the details
    (`gate_explanation` is the gate's message)."""
    own_files = frozenset(own_files)
    chain = chain_text(model_id, own_license, ancestors)
    inputs = {
        "license": own_license,
        "ancestors": [(a.model_id, a.license, a.known, a.relation) for a in ancestors],
        "notice": _notice(own_files),
        "allowed_uses": sorted(allowed_uses),
    }
    inherited: dict[str, list[str]] = {}
    findings: list[str] = []
    kinds: list[str] = []
    own = obligations_of(own_license)
    if own is None:
        findings.append(f"unknown licence: {model_id} declares {own_license or 'none'}")
        kinds.append("unknown_licence")
    for o in own or ():
        inherited.setdefault(o, []).append(model_id)
    for a in ancestors:
        terms = obligations_of(a.license) if a.known else None
        if terms is None:
            why = a.license or "none" if a.known else "its metadata could not be read"
            findings.append(f"unknown licence: {a.model_id} ({why})")
            kinds.append("unknown_licence")
            continue
        for o in terms:
            inherited.setdefault(o, []).append(a.model_id)
        if own is not None and not (own & RESTRICTIVE) and terms & RESTRICTIVE:
            words = ", ".join(OBLIGATIONS[o][0] for o in sorted(terms & RESTRICTIVE))
            findings.append(
                f"permissive-washing: {model_id} declares {own_license} over {a.model_id} "
                f"({a.license}: {words})"
            )
            kinds.append("permissive_washing")
        if "notice" in terms and _notice(a.files) and not _notice(own_files):
            findings.append(f"missing NOTICE: {a.model_id} ships one that must be kept")
            kinds.append("missing_notice")
    broken = [
        f"{use} is allowed, but {o} ({OBLIGATIONS[o][0]}) comes from {', '.join(sources)}"
        for o, sources in sorted(inherited.items())
        for use in sorted(OBLIGATIONS[o][1] & set(allowed_uses))
    ]
    inputs["failing"] = sorted(failing)
    problems = broken + [f for f, k in zip(findings, kinds, strict=True) if k in failing]
    details = {
        "chain": chain,
        "obligations": {o: sorted(set(s)) for o, s in sorted(inherited.items())},
        "findings": findings,
        "violations": broken,
    }
    if problems:
        details["gate_explanation"] = f"{'; '.join(problems)}; chain: {chain}"
        return MetricResult(0.0, details["gate_explanation"], inputs, details)
    if findings:
        return MetricResult(
            0.5, f"{'; '.join(findings)} (reported, not failed); chain: {chain}", inputs, details
        )
    return MetricResult(
        1.0, f"inherited obligations fit the allowed uses: {chain}", inputs, details
    )


# how each finding's sentence starts (`licence_obligations` writes them), by kind
_FINDING_OPENINGS = {
    "unknown licence:": "unknown_licence",
    "permissive-washing:": "permissive_washing",
    "missing NOTICE:": "missing_notice",
}


def obligations_verdict(
    details: Mapping, allowed_uses: Sequence[str], failing: Sequence[str] = FAILING_FINDINGS
) -> tuple[float, str]:
    """`licence_obligations` re-judged for other allowed uses from its stored details (the
    obligations with their sources, and the findings), as the metric would score it: the
    score and, for a failure, why. A policy profile decides with this, fetching nothing."""
    stored = details.get("obligations") or {}
    broken = [
        f"{use} is allowed, but {o} ({OBLIGATIONS[o][0]}) comes from {', '.join(sources)}"
        for o, sources in sorted(stored.items())
        if o in OBLIGATIONS
        for use in sorted(OBLIGATIONS[o][1] & set(allowed_uses))
    ]
    findings = [str(f) for f in details.get("findings") or []]
    kinds = [
        next((k for opening, k in _FINDING_OPENINGS.items() if f.startswith(opening)), "")
        for f in findings
    ]
    problems = broken + [f for f, k in zip(findings, kinds, strict=True) if k in failing]
    chain = details.get("chain") or ""
    if problems:
        return 0.0, f"{'; '.join(problems)}; chain: {chain}"
    return (0.5 if findings else 1.0), ""


def ancestors_of(rows: Sequence[dict]) -> list[Ancestor]:
    """The registry's ancestry rows as `Ancestor`s."""
    return [
        Ancestor(
            r["model_id"],
            r["parent_of"],
            r["relation"],
            r["depth"],
            r["license"],
            frozenset(r["files"]),
            r["known"],
        )
        for r in rows
    ]
