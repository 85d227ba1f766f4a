"""What a model revision holds, from file headers and config.json: parameters by dtype, the
bytes they take, the quantisation, and the architecture numbers a memory estimate needs.

Built from safetensors headers (huggingface_hub's `get_safetensors_metadata`, sharded
repos included), from a GGUF header (`gguf_header`), or, when neither can be read, from the
weight files' sizes alone (parameters then unknown). No weights are downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

# Bytes per element of each safetensors dtype.
SAFETENSORS_BYTES = {
    "F64": 8,
    "I64": 8,
    "U64": 8,
    "F32": 4,
    "I32": 4,
    "U32": 4,
    "F16": 2,
    "BF16": 2,
    "I16": 2,
    "U16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
_FLOAT_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


@dataclass(frozen=True)
class Architecture:
    """The numbers of a transformer the KV-cache estimate needs (None: not known)."""

    layers: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    context_length: int | None = None
    decoder: bool = False  # generates token by token, so keeps a KV cache

    @classmethod
    def from_config(cls, config: Mapping | None) -> Architecture:
        """From a transformers config.json (GPT-2, Llama, T5, BERT and friends' key names)."""
        if not config:
            return cls()

        def first(*keys: str) -> int | None:
            for k in keys:
                v = config.get(k)
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    return v
            return None

        hidden = first("hidden_size", "n_embd", "d_model")
        heads = first("num_attention_heads", "n_head", "num_heads")
        archs = " ".join(config.get("architectures") or [])
        decoder = bool(
            config.get("is_encoder_decoder")
            or any(s in archs for s in ("CausalLM", "LMHead", "ConditionalGeneration"))
        )
        return cls(
            layers=first("num_decoder_layers", "num_hidden_layers", "n_layer", "num_layers"),
            hidden_size=hidden,
            heads=heads,
            kv_heads=first("num_key_value_heads", "num_kv_heads") or heads,
            head_dim=first("head_dim", "d_kv") or (hidden // heads if hidden and heads else None),
            context_length=first(
                "max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length"
            ),
            decoder=decoder,
        )


@dataclass(frozen=True)
class Footprint:
    """A revision's weights as their headers describe them."""

    source: str  # "safetensors headers", "gguf header", "file sizes"
    weight_files: tuple[str, ...]
    parameters: int | None  # None: only file sizes were known
    parameters_by_dtype: dict[str, int] = field(default_factory=dict)
    stored_bytes: int = 0  # the weights' bytes as stored (quantised for GGUF)
    quantization: str | None = None  # e.g. F16, Q8_0, BF16
    file_type: str | None = None  # GGUF general.file_type
    architecture: Architecture = field(default_factory=Architecture)
    gguf_file: str | None = None  # the GGUF file this footprint describes
    finding: str | None = None  # why the headers could not be read, when they could not

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None

    def as_dict(self) -> dict:
        """JSON-ready (stored with the estimate, fingerprinted for lineage)."""
        out = asdict(self)
        out["weight_files"] = list(self.weight_files)
        return out


def from_safetensors(
    parameter_count: Mapping[str, int], files: list[str], config: Mapping | None
) -> Footprint:
    """From `SafetensorsRepoMetadata.parameter_count` ({dtype: parameters})."""
    counts = {str(k): int(v) for k, v in sorted(parameter_count.items())}
    stored = sum(n * SAFETENSORS_BYTES.get(d, 4) for d, n in counts.items())
    main = max(counts, key=counts.get) if counts else None
    return Footprint(
        "safetensors headers",
        tuple(sorted(files)),
        sum(counts.values()),
        counts,
        stored,
        main,
        architecture=Architecture.from_config(config),
    )


def from_gguf(header: dict, file: str) -> Footprint:
    """From `gguf_summary(...)` of one GGUF file."""
    arch = header.get("arch") or {}
    return Footprint(
        "gguf header",
        (file,),
        header["parameters"],
        header["parameters_by_type"],
        header["tensor_bytes"],
        header["quantization"],
        header.get("file_type"),
        Architecture(**arch),
        gguf_file=file,
    )


def from_file_sizes(weights: Mapping[str, int], config: Mapping | None, finding: str) -> Footprint:
    """Only the weight files' sizes (headers unreadable or offline): parameters unknown."""
    return Footprint(
        "file sizes",
        tuple(sorted(weights)),
        None,
        {},
        sum(weights.values()),
        _FLOAT_NAMES.get(str((config or {}).get("torch_dtype", "")).upper()),
        architecture=Architecture.from_config(config),
        finding=finding,
    )


def revision_footprint(
    weights: Mapping[str, int],
    config: Mapping | None,
    headers: Mapping | None,
    missing: str = "weight headers not read",
) -> Footprint:
    """The footprint of a revision from its `HubClient.weight_headers` payload: safetensors
    when the repo has them (what transformers loads), else its smallest readable GGUF file
    (the variant most likely to fit), else the weight files' sizes with the reason."""
    headers = headers or {}
    st = headers.get("safetensors") or {}
    if st.get("parameter_count"):
        return from_safetensors(st["parameter_count"], st.get("files") or [], config)
    ggufs = headers.get("gguf") or {}
    readable = {f: h for f, h in ggufs.items() if "error" not in h}
    if readable:
        file = min(readable, key=lambda f: (readable[f]["tensor_bytes"], f))
        return from_gguf(readable[file], file)
    findings = [f"{f}: {h['error']}" for f, h in ggufs.items() if "error" in h]
    if st.get("error"):
        findings.append(f"safetensors: {st['error']}")
    return from_file_sizes(weights, config, "; ".join(findings) or missing)


def footprint_from_dict(d: Mapping) -> Footprint:
    """The inverse of `Footprint.as_dict` (a stored size_score's details)."""
    return Footprint(
        **{
            **d,
            "weight_files": tuple(d.get("weight_files") or ()),
            "architecture": Architecture(**(d.get("architecture") or {})),
        }
    )


def with_base(adapter: Footprint, base: Footprint, base_id: str) -> Footprint:
    """An adapter's footprint as it runs: its base's weights plus its own, the base's
    architecture and precision."""
    by_dtype = dict(base.parameters_by_dtype)
    for dtype, n in adapter.parameters_by_dtype.items():
        by_dtype[dtype] = by_dtype.get(dtype, 0) + n
    params = (
        None
        if base.parameters is None or adapter.parameters is None
        else base.parameters + adapter.parameters
    )
    findings = [f for f in (adapter.finding, base.finding) if f]
    return Footprint(
        f"{adapter.source} + base {base_id} ({base.source})",
        adapter.weight_files,
        params,
        dict(sorted(by_dtype.items())),
        adapter.stored_bytes + base.stored_bytes,
        base.quantization,
        base.file_type,
        base.architecture,
        base.gguf_file,
        "; ".join(findings) or None,
    )
