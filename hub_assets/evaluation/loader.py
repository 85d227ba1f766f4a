"""The one door through which model files are loaded: `from_pretrained`.

Every load in the product goes through here (a test holds it): the folder must bear its
passing security verdict (`hub.clearance`), `trust_remote_code` is always False (so
transformers raises instead of asking on stdin), and each load is announced as the audit
event `hub_assets.load` (`sys.audit`), which tests and operators can hook to see what was
loaded and when. Failures are told in words (`load_failure_words`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from hub_assets.hub.clearance import require_cleared

AUDIT_EVENT = "hub_assets.load"


def from_pretrained(cls: Any, folder: Path | str, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
    """`cls.from_pretrained(folder, ...)` after the folder's security clearance, with
    `trust_remote_code=False` forced (asking for True is a programming error). For a PEFT
    adapter, pass the base model first: `from_pretrained(PeftModel, folder, model)`."""
    if kwargs.get("trust_remote_code"):
        raise ValueError("trust_remote_code=True is never allowed")
    require_cleared(Path(folder))
    sys.audit(AUDIT_EVENT, str(folder), getattr(cls, "__name__", str(cls)))
    if getattr(cls, "__name__", "") == "PeftModel":
        model, *rest = args
        return cls.from_pretrained(model, folder, *rest, **kwargs)
    return cls.from_pretrained(folder, *args, trust_remote_code=False, **kwargs)


_UNKNOWN_TYPE = re.compile(r"(?:Unrecognized model|model type `?([\w-]+)`? but Transformers)")
_REMOTE = re.compile(r"trust_remote_code|custom code|contains custom code", re.I)


def load_failure_words(e: BaseException) -> str:
    """Why a load failed, in words a user can act on (no class names, no paths)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if type(e).__name__ == "NotClearedError":
        return text
    if _REMOTE.search(str(e)):
        return "the model needs its repo's own code, which is never run (trust_remote_code)"
    if _UNKNOWN_TYPE.search(str(e)) or "model_type" in str(e):
        m = re.search(r"model[_ ]type[^`'\"]*[`'\"]([\w.-]+)[`'\"]", str(e))
        name = f" {m.group(1)!r}" if m else ""
        return f"unknown architecture{name}: transformers has no class for it"
    if "safetensors" in str(e).lower() and ("header" in str(e).lower() or "deserializ" in str(e)):
        return f"malformed weights: {text[:200]}"
    return re.sub(r"(/[^\s:'\"]+)+/", "", text)[:300] or "the model could not be loaded"
