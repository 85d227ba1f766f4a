"""Model and dataset cards: the YAML metadata block and the markdown text."""

from __future__ import annotations

import yaml


def split_card(text: str) -> tuple[dict, str]:
    """Split a README.md into its YAML metadata (a dict, empty if none or invalid) and body."""
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            try:
                data = yaml.safe_load(text[3:end]) or {}
            except yaml.YAMLError:
                data = {}
            body_start = text.find("\n", end + 4)
            body = text[body_start + 1 :] if body_start != -1 else ""
            return (data if isinstance(data, dict) else {}), body
    return {}, text
