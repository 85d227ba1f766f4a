"""The Dagster shell: assets, checks, sensors and schedules over the product core.

`SETTINGS` is the environment read once for the whole shell: schedules take their crons
from it and `definitions.py` builds the resources from it.
"""

from hub_assets.settings import load_settings

SETTINGS = load_settings()
