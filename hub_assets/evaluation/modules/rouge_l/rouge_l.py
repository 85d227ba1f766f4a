"""The rouge_l scorer as an evaluate module (see hub_assets.evaluation.scorers)."""

from hub_assets.evaluation.scorers import RougeLScore as RougeLScore  # noqa: F401
