"""The bleu scorer as an evaluate module (see hub_assets.evaluation.scorers)."""

from hub_assets.evaluation.scorers import BleuScore as BleuScore  # noqa: F401
