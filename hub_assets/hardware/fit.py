"""What a model needs to run, estimated from its footprint, and whether a device has it.

estimate = weights + KV cache + runtime overhead (docs/metrics.md, "Hardware fit"):

- weights: the bytes the runtime holds. transformers keeps safetensors weights in their
  stored dtype and dequantises GGUF tensors to float32; llama.cpp keeps GGUF as stored.
- KV cache (decoders only): 2 (K and V) × layers × KV heads × head dim × context tokens ×
  the runtime's cache element size (the model's float size in transformers, 2 bytes in
  llama.cpp).
- overhead: the runtime's own resident memory (interpreter, libraries, allocator), a
  measured constant per runtime, plus a share of the weights for buffers and activations.

Device profiles (RAM and accelerator flags) live in config: `devices.yaml` beside this
module by default, `HUB_ASSETS_DEVICES` to replace it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from hub_assets.errors import DeviceConfigError
from hub_assets.hardware.footprint import Footprint, footprint_from_dict

GIB = 1024**3
DEFAULT_DEVICES_FILE = Path(__file__).with_name("devices.yaml")
DEFAULT_CONTEXT = 4096
# The estimate may differ from a measured peak RSS by this share of the measurement and
# still be "within tolerance" (docs/metrics.md; the tests hold the demo models to it).
ESTIMATE_TOLERANCE = 0.35


@dataclass(frozen=True)
class RuntimeProfile:
    """How a runtime holds a model in memory."""

    name: str
    overhead_bytes: int  # resident memory of the runtime itself, before any model
    overhead_share: float  # of the weights, for buffers and activations
    kv_element_bytes: int | None  # None: the model's own float size
    dequantizes_gguf: bool


RUNTIMES = {
    # Measured: the reproducibility child's peak RSS with torch and transformers imported
    # and a tiny model run is ~0.4 GiB on CPU (docs/metrics.md).
    "transformers": RuntimeProfile("transformers", 400 * 1024**2, 0.1, None, True),
    # llama.cpp's own figures: a small binary, f16 KV cache, mmap'd weights.
    "llama.cpp": RuntimeProfile("llama.cpp", 64 * 1024**2, 0.1, 2, False),
}


@dataclass(frozen=True)
class RamEstimate:
    """The memory a model needs on one runtime at one context length."""

    runtime: str
    context_length: int
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    assumptions: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "assumptions": list(self.assumptions),
            "total_bytes": self.total_bytes,
        }


def runtime_for(fp: Footprint) -> str:
    """The runtime a model of this format is deployed on: llama.cpp for GGUF."""
    return "llama.cpp" if fp.is_gguf else "transformers"


def _float_bytes(fp: Footprint) -> int:
    q = (fp.quantization or "").upper()
    return 2 if q in ("F16", "BF16", "FLOAT16", "BFLOAT16") else 4


def estimate_ram(fp: Footprint, context_length: int, runtime: str | None = None) -> RamEstimate:
    """The estimate of the module docstring for `fp` at `context_length` tokens."""
    profile = RUNTIMES[runtime or runtime_for(fp)]
    assumptions = []
    if fp.is_gguf and profile.dequantizes_gguf and fp.parameters is not None:
        weights = fp.parameters * 4
        assumptions.append("GGUF tensors dequantised to float32")
    else:
        weights = fp.stored_bytes
    if fp.parameters is None:
        assumptions.append("parameters unknown: weights from file sizes")
    a = fp.architecture
    kv = 0
    if a.decoder:
        if a.layers and a.kv_heads and a.head_dim:
            element = profile.kv_element_bytes or _float_bytes(fp)
            kv = 2 * a.layers * a.kv_heads * a.head_dim * context_length * element
        else:
            assumptions.append("architecture numbers unknown: no KV cache counted")
    if a.context_length and context_length > a.context_length:
        assumptions.append(
            f"context {context_length} exceeds the model's {a.context_length} tokens"
        )
    overhead = profile.overhead_bytes + int(weights * profile.overhead_share)
    return RamEstimate(profile.name, context_length, weights, kv, overhead, tuple(assumptions))


@dataclass(frozen=True)
class DeviceProfile:
    """A device a model may be deployed on."""

    name: str
    ram_gb: float
    cuda: bool = False
    metal: bool = False
    neural_engine: bool = False

    @property
    def ram_bytes(self) -> int:
        return int(self.ram_gb * GIB)

    def accelerators(self) -> list[str]:
        return [n for n in ("cuda", "metal", "neural_engine") if getattr(self, n)]


def load_devices(path: str | os.PathLike | None = None) -> dict[str, DeviceProfile]:
    """The device profiles of `path` (the trust resource passes HUB_ASSETS_DEVICES), else
    the built-in ones."""
    path = Path(path or DEFAULT_DEVICES_FILE)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise DeviceConfigError(f"Device profiles {path}: cannot read ({e.strerror}).") from None
    except yaml.YAMLError as e:
        raise DeviceConfigError(f"Device profiles {path}: not valid YAML ({e}).") from None
    devices = (raw or {}).get("devices") if isinstance(raw, dict) else None
    if not isinstance(devices, dict) or not devices:
        raise DeviceConfigError(
            f"Device profiles {path}: expected a 'devices:' mapping of name → "
            "{ram_gb, cuda, metal, neural_engine}."
        )
    out = {}
    for name, spec in devices.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("ram_gb"), int | float):
            raise DeviceConfigError(f"Device profiles {path}: {name!r} needs a numeric ram_gb.")
        if spec["ram_gb"] <= 0:
            raise DeviceConfigError(f"Device profiles {path}: {name!r} has ram_gb ≤ 0.")
        unknown = set(spec) - {"ram_gb", "cuda", "metal", "neural_engine"}
        if unknown:
            raise DeviceConfigError(
                f"Device profiles {path}: {name!r} has unknown keys {sorted(unknown)}."
            )
        out[str(name)] = DeviceProfile(
            str(name),
            float(spec["ram_gb"]),
            bool(spec.get("cuda")),
            bool(spec.get("metal")),
            bool(spec.get("neural_engine")),
        )
    return out


def device_fit(estimate: RamEstimate, device: DeviceProfile) -> float:
    """1 − estimate / device RAM, floored at 0: the share of the device left free."""
    return round(max(0.0, 1 - estimate.total_bytes / device.ram_bytes), 4)


def estimate_error(estimate_bytes: int, measured_bytes: int) -> float:
    """(estimate − measured) / measured: positive when the estimate is generous."""
    return round((estimate_bytes - measured_bytes) / measured_bytes, 4)


def measured_context(measurement: Mapping) -> int:
    """The tokens the reproducibility run held in its cache (prompt + generated)."""
    return int(measurement.get("context_tokens") or 16)


def fit_record(size_details: Mapping, measurement: Mapping | None) -> dict:
    """A `hardware_fit` row from size_score's details (footprint, estimate, per-device fit)
    and the reproducibility run's measurement: the estimate at the measured context on the
    measured runtime (transformers), and its error against the measured peak RSS."""
    fp = footprint_from_dict(size_details["footprint"])
    est = size_details["estimate"]
    row = {
        "source": fp.source,
        "parameters": fp.parameters,
        "parameters_by_dtype": fp.parameters_by_dtype,
        "footprint": fp.as_dict(),
        "quantization": fp.quantization,
        "gguf_file": fp.gguf_file,
        "runtime": est["runtime"],
        "context_length": est["context_length"],
        "weights_bytes": est["weights_bytes"],
        "kv_cache_bytes": est["kv_cache_bytes"],
        "overhead_bytes": est["overhead_bytes"],
        "estimate_bytes": est["total_bytes"],
        "fit_per_device": dict(size_details.get("per_device") or {}),
        "measured_runtime": None,
        "measured_context": None,
        "estimate_at_measured_bytes": None,
        "peak_rss_bytes": None,
        "load_s": None,
        "first_output_s": None,
        "estimate_error": None,
    }
    if measurement and measurement.get("peak_rss_bytes"):
        context = measured_context(measurement)
        at_measured = estimate_ram(fp, context, "transformers")
        row.update(
            measured_runtime="transformers",
            measured_context=context,
            estimate_at_measured_bytes=at_measured.total_bytes,
            peak_rss_bytes=int(measurement["peak_rss_bytes"]),
            load_s=measurement.get("load_s"),
            first_output_s=measurement.get("first_output_s"),
            estimate_error=estimate_error(
                at_measured.total_bytes, int(measurement["peak_rss_bytes"])
            ),
        )
    return row


def mib(n: int | None) -> str:
    return "?" if n is None else f"{n / 1024**2:,.1f} MiB"


def fit_summary(row: Mapping) -> list[tuple[str, str]]:
    """A `hardware_fit` row in words: (what, value) pairs for tables and terminals."""
    params = row.get("parameters")
    out = [
        ("parameters", f"{params:,}" if params else "unknown"),
        ("quantization", str(row.get("quantization") or "?")),
        ("source", str(row.get("source"))),
        (
            f"estimate ({row['runtime']}, {row['context_length']} tokens)",
            f"{mib(row['estimate_bytes'])} = weights {mib(row['weights_bytes'])} + KV "
            f"{mib(row['kv_cache_bytes'])} + overhead {mib(row['overhead_bytes'])}",
        ),
    ]
    if row.get("peak_rss_bytes"):
        out += [
            (
                f"measured ({row['measured_runtime']}, {row['measured_context']} tokens)",
                f"peak RSS {mib(row['peak_rss_bytes'])}; load {row['load_s']:.2f} s; first "
                f"output {row['first_output_s']:.2f} s",
            ),
            (
                "estimate error",
                f"{row['estimate_error']:+.1%} (estimate {mib(row['estimate_at_measured_bytes'])}"
                f"; tolerance ±{ESTIMATE_TOLERANCE:.0%})",
            ),
        ]
    else:
        out.append(("measured", "not run"))
    fits = row.get("fit_per_device") or {}
    out.append(("fit per device", ", ".join(f"{d} {v:.2f}" for d, v in fits.items())))
    return out
