"""Proof that travels with a package: its signature, the evidence it was approved on, and
an AI bill of materials; and the offline check of all three (docs/proof.md)."""
