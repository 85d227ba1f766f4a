"""The retrieval scorer as an evaluate module (see hub_assets.evaluation.scorers)."""

from hub_assets.evaluation.scorers import RetrievalScores as RetrievalScores  # noqa: F401
