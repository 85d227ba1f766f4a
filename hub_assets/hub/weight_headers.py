"""Reading a revision's weight headers with bounded range requests: safetensors parameter
counts (sharded repos through their index) and GGUF header summaries, never the weights.

A part of `HubClient` (a mixin over its `call`, cache and settings)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from huggingface_hub.utils import build_hf_headers

from hub_assets.errors import (
    MalformedGgufError,
)
from hub_assets.hub.gguf_header import gguf_summary, read_gguf_header
from hub_assets.hub.repo_reads import Fetched
from hub_assets.hub.transport import checked_get
from hub_assets.hub.untrusted import check_sha
from hub_assets.ids import check_model_id

MAX_GGUF_FILES = 16  # headers read per revision (a repo of quantisations has a dozen)
MAX_SAFETENSORS_FILES = 64  # unindexed safetensors files read one by one


class WeightHeaderReads:
    """`HubClient`'s reads of weight headers."""

    def weight_headers(self, model_id: str, sha: str) -> Fetched:
        """The headers of a revision's weight files, read with bounded range requests (no
        weights downloaded): safetensors parameter counts by dtype (sharded repos through
        their index, read verified) and each GGUF file's header summary. A header that
        cannot be parsed is recorded as an `error`, not raised. Cached by sha (headers of a
        commit never change)."""
        check_model_id(model_id)
        check_sha(sha, "revision sha")
        return self._through_cache(
            self._cache.path("headers", model_id, sha),
            lambda: self._fetch_weight_headers(model_id, sha),
            never_expires=True,
            miss_message=(
                f"No cached weight headers for model {model_id!r} at {sha[:7]}, and the Hub "
                f"at {self.settings.endpoint} cannot be asked."
            ),
        )

    def _fetch_weight_headers(self, model_id: str, sha: str) -> dict:
        from hub_assets.errors import MalformedWeightsError
        from hub_assets.hub.inspection import safetensors_header

        siblings = self.model_metadata(model_id, sha).data["info"].get("siblings") or []
        by_path = {s["path"]: s for s in siblings}
        sizes = {p: int(s.get("size") or 0) for p, s in by_path.items()}
        # every weight file's header, checked with bounds: "ok", or why it is malformed
        out: dict[str, Any] = {"safetensors": None, "gguf": {}, "checks": {}}
        tensors = sorted(p for p in sizes if p.lower().endswith(".safetensors"))
        ggufs = sorted(p for p in sizes if p.lower().endswith(".gguf"))
        for path in tensors[MAX_SAFETENSORS_FILES:] + ggufs[MAX_GGUF_FILES:]:
            out["checks"][path] = "not checked: too many weight files in one repo"
        counts: dict[str, dict[str, int]] = {}
        for path in tensors[:MAX_SAFETENSORS_FILES]:
            try:
                header = safetensors_header(self._range_reader(model_id, path, sha), sizes[path])
                counts[path] = header.parameter_count
                out["checks"][path] = "ok"
            except MalformedWeightsError as e:
                out["checks"][path] = str(e)
        if tensors:
            out["safetensors"] = self._footprint_files(model_id, sha, by_path, counts)
        for path in ggufs[:MAX_GGUF_FILES]:
            try:
                header = read_gguf_header(self._range_reader(model_id, path, sha), sizes[path])
                out["gguf"][path] = gguf_summary(header)
                out["checks"][path] = "ok"
            except MalformedGgufError as e:
                out["gguf"][path] = {"error": str(e)}
                out["checks"][path] = str(e)
        return out

    def _footprint_files(
        self, model_id: str, sha: str, by_path: dict[str, dict], counts: dict[str, dict]
    ) -> dict:
        """Parameter counts of the files a loader reads: a sharded repo's index names its
        shards (read verified); else every safetensors file."""
        files = sorted(counts)
        index = next((p for p in by_path if p.endswith(".safetensors.index.json")), None)
        if index is not None:
            try:
                weight_map = json.loads(self.read_verified(model_id, by_path[index], sha))
                shards = sorted(set((weight_map.get("weight_map") or {}).values()))
            except (ValueError, AttributeError, TypeError):
                return {"error": f"{index}: not a safetensors index"}
            if shards and all(isinstance(s, str) and s in by_path for s in shards):
                files = shards
        bad = next((p for p in files if p not in counts), None)
        if bad is not None:
            return {"error": f"{bad}: header not readable"}
        total: dict[str, int] = {}
        for path in files:
            for dtype, n in counts[path].items():
                total[dtype] = total.get(dtype, 0) + n
        return {"parameter_count": total, "files": files}

    def _range_reader(self, model_id: str, filename: str, sha: str) -> Callable[[int, int], bytes]:
        return lambda offset, length: self.read_range(model_id, filename, sha, offset, length)

    def read_range(self, model_id: str, filename: str, sha: str, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) of a file at `sha`, by one HTTP range request
        (rate-limited, retried, within a deadline, redirects to allowed hosts only). A
        server that ignores the range is read only as far as needed and the connection
        dropped: a file is never fetched whole this way."""
        url = self.file_url(model_id, filename, sha)

        def get() -> bytes:
            headers = build_hf_headers(token=self.token, library_name="hub-assets")
            headers["Range"] = f"bytes={offset}-{offset + length - 1}"
            skip_total = offset
            with checked_get(
                url,
                headers,
                timeout_s=self.settings.timeout_s,
                allowed=self.allowed_redirect_hosts(),
                size=length + offset,
                what=f"Reading {filename}",
            ) as (r, deadline):
                skip = skip_total if r.status_code == 200 else 0  # the range was ignored
                out = bytearray()
                for chunk in r.iter_bytes():
                    deadline.check()
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    out += chunk[skip : skip + length - len(out)]
                    skip = 0
                    if len(out) >= length:
                        break
                return bytes(out)

        return self.call(get)
