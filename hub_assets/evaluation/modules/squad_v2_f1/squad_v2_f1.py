"""The squad_v2_f1 scorer as an evaluate module (see hub_assets.evaluation.scorers)."""

from hub_assets.evaluation.scorers import SquadV2F1 as SquadV2F1  # noqa: F401
