"""`python -m hub_assets.cli`: the same command as `hub-assets`."""

from hub_assets.cli import main

main()
