"""The squad_v2_exact_match scorer as an evaluate module (see hub_assets.evaluation.scorers)."""

from hub_assets.evaluation.scorers import SquadV2ExactMatch as SquadV2ExactMatch  # noqa: F401
