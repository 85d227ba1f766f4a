"""One dynamic partition per Hub model id, added by the candidate sensor."""

from dagster import DynamicPartitionsDefinition

hf_models = DynamicPartitionsDefinition(name="hf_models")
