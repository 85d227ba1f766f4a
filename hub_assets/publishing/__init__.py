"""Publishing to a Hub: pushed adapters and fine-tunes with generated cards, evaluation
reports and registry cards (see `docs/publishing.md`)."""
