"""The registry service: an HTTP API over the registry and the pipeline."""
