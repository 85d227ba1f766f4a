"""Model cards the registry writes: for a pushed adapter or fine-tune, made with
huggingface_hub's `ModelCard` / `ModelCardData`, so the Hub (and `ModelCard.load`) reads
their metadata: base model and relation, tags, datasets, licence, `model-index` results."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from huggingface_hub import EvalResult, ModelCard, ModelCardData

_PUSH_TEMPLATE = """---
{{ card_data }}
---

# {{ name }}

{{ kind }} of [{{ base_model }}]({{ endpoint }}/{{ base_model }}).

## Usage

```python
{{ usage }}
```

## Training

{% if datasets %}Datasets: {{ datasets }}.
{% endif %}
{% if training_config %}Training configuration:

```json
{{ training_config }}
```
{% else %}No training configuration was given.
{% endif %}

## Results

{% if metrics %}| metric | value |
|---|---:|
{% for name, value in metrics %}| {{ name }} | {{ value }} |
{% endfor %}{% else %}No results were given.
{% endif %}
## Base model in the registry

{{ registry }}

Published with hub-assets (`hub-assets push`).
"""


@dataclass
class PushCard:
    """What a pushed model's card says."""

    repo_id: str
    base_model: str
    endpoint: str
    adapter_type: str | None  # e.g. "LORA" when adapter_config.json is present
    task: str | None
    license: str | None
    datasets: list[str] = field(default_factory=list)
    training_config: dict | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    registry_entry: str = ""  # the base model's registry status, in words

    @property
    def is_adapter(self) -> bool:
        return self.adapter_type is not None


def usage_code(card: PushCard) -> str:
    """Code that loads exactly this repo."""
    if card.is_adapter:
        return (
            "from peft import PeftModel\n"
            "from transformers import AutoModel\n\n"
            f'base = AutoModel.from_pretrained("{card.base_model}")\n'
            f'model = PeftModel.from_pretrained(base, "{card.repo_id}")'
        )
    return (
        f'from transformers import AutoModel\n\nmodel = AutoModel.from_pretrained("{card.repo_id}")'
    )


def push_card(card: PushCard) -> ModelCard:
    """The card of a pushed adapter or fine-tune."""
    tags = ["hub-assets"]
    if card.is_adapter:
        tags = [f"base_model:adapter:{card.base_model}", "peft", "transformers"]
        tags.insert(2, card.adapter_type.lower())  # type: ignore[union-attr]
        tags.append("hub-assets")
    dataset = card.datasets[0] if card.datasets else "unspecified"
    results = [
        EvalResult(
            task_type=card.task or "other",
            dataset_type=dataset,
            dataset_name=dataset,
            metric_type=name,
            metric_value=value,
        )
        for name, value in card.metrics.items()
    ]
    data = ModelCardData(
        license=card.license,
        base_model=card.base_model,
        base_model_relation="adapter" if card.is_adapter else "finetune",
        library_name="peft" if card.is_adapter else "transformers",
        pipeline_tag=card.task,
        datasets=card.datasets or None,
        tags=tags,
        model_name=card.repo_id.split("/")[-1],
        eval_results=results or None,
    )
    return ModelCard.from_template(
        data,
        template_str=_PUSH_TEMPLATE,
        name=card.repo_id,
        kind=f"A {card.adapter_type} adapter" if card.is_adapter else "A fine-tune",
        base_model=card.base_model,
        endpoint=card.endpoint,
        adapter_type=card.adapter_type,
        usage=usage_code(card),
        datasets=", ".join(card.datasets),
        training_config=json.dumps(card.training_config, indent=2, sort_keys=True)
        if card.training_config
        else "",
        metrics=[(k, f"{v:.4g}") for k, v in card.metrics.items()],
        registry=card.registry_entry,
    )
