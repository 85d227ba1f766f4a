"""hub-assets: the Hugging Face Hub as a curated, evaluated, auditable model registry."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hub-assets")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
