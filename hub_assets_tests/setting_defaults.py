"""The settings' defaults as the rule objects the pipeline builds from them, for tests that
call a rule directly: the rules write no default of a setting (`settings.py` does), so a
test takes them from here and changes what it needs with `dataclasses.replace`."""

from __future__ import annotations

from hub_assets.pipeline.context import Pipeline
from hub_assets.settings import Settings

DEFAULTS = Pipeline.from_settings(Settings.model_construct())
LIMITS = DEFAULTS.limits  # ReproducibilityLimits
API = DEFAULTS.inference_api()  # InferenceApiConfig (at the router of the default Hub)
BUDGET = API.budget  # ApiBudget
