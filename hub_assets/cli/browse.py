"""Browsing the registry: `models`, `recommend`, `adapters`, `tree` and `samples`, as tables
or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from hub_assets.cli.registry import open_registry
from hub_assets.cli.startup import settings_or_exit

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, JSON for scripts.",
)
REGISTRY = click.option("--registry", "registry_path", default=None, help="Registry file.")


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024**3:.2f} GiB"


def _params(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def _read(registry_path: str | None, fn):  # noqa: ANN001, ANN202 - a registry read
    from hub_assets.errors import RegistryError

    try:
        with open_registry(settings_or_exit(), registry_path).read() as con:
            return fn(con)
    except RegistryError as e:
        click.echo(str(e), err=True)
        sys.exit(2)


def _health(registry_path: str | None) -> list:
    """Every judged model's health under the current gate."""
    from hub_assets.errors import HubAssetsError
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.pipeline.health import HealthPolicy, health_report

    settings = settings_or_exit()
    try:
        registry = open_registry(settings, registry_path)
        gate = Pipeline(settings).gate_config()
        return health_report(registry, gate, HealthPolicy.of(settings))
    except HubAssetsError as e:
        click.echo(str(e), err=True)
        sys.exit(2)


@click.command("health")
@click.option("--model", "model_id", help="One model only.")
@click.option("--all", "show_all", is_flag=True, help="Healthy models too.")
@FORMAT
@REGISTRY
def health(model_id: str | None, show_all: bool, fmt: str, registry_path: str | None) -> None:
    """Each judged model's health under the current gate: revoked, at_risk (upstream moved
    or became gated), stale (judged under another gate, or too long ago) or ok, and why."""
    from collections import Counter

    rows = [h for h in _health(registry_path) if model_id is None or h.model_id == model_id]
    if fmt == "json":
        click.echo(json.dumps([h.__dict__ for h in rows], indent=2))
        return
    counts = Counter(h.health for h in rows)
    click.echo(
        f"{len(rows)} judged models: "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("ok", "stale", "at_risk", "revoked"))
    )
    shown = [h for h in rows if show_all or model_id or h.health != "ok"]
    if shown:
        click.echo(
            table(
                ["model", "health", "revision", "why"],
                [[h.model_id, h.health, (h.revision_sha or "")[:12], h.reason] for h in shown],
            )
        )


@click.command("models")
@click.option(
    "--size",
    type=click.Choice(["small", "medium", "large", "unknown"]),
    help="By parameter count: small < 1B, medium 1B-10B, large ≥ 10B.",
)
@click.option("--task", help="Pipeline tag, e.g. text-generation.")
@click.option("--status", help="Lifecycle status, e.g. ingested, gate_failed, candidate.")
@FORMAT
@REGISTRY
def models(
    size: str | None, task: str | None, status: str | None, fmt: str, registry_path: str | None
) -> None:
    """The registry as a table: task, size class, parameters, quantization, status, gate
    outcome, estimated RAM and packaging of each model's current revision."""
    from hub_assets.hardware.recommend import size_class
    from hub_assets.registry.hardware import registry_table

    rows = _read(registry_path, registry_table)
    health = {h.model_id: h for h in _health(registry_path)}
    for r in rows:
        fit = r["fit"] or {}
        r["size_class"] = size_class(fit.get("parameters")) if fit else "unknown"
        known = health.get(r["model_id"])
        r["health"] = known.health if known else None
        r["health_reason"] = known.reason if known else None
    rows = [
        r
        for r in rows
        if (size is None or r["size_class"] == size)
        and (task is None or r["task"] == task)
        and (status is None or r["status"] == status)
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("No model in the registry matches.")
        return
    click.echo(
        table(
            [
                "model",
                "task",
                "size",
                "params",
                "quant",
                "status",
                "gate",
                "health",
                "est. RAM",
                "packaged",
            ],
            [
                [
                    r["model_id"],
                    r["task"],
                    r["size_class"],
                    _params((r["fit"] or {}).get("parameters")) if r["fit"] else "?",
                    (r["fit"] or {}).get("quantization"),
                    r["status"],
                    r["gate"],
                    r["health"],
                    _gib((r["fit"] or {}).get("estimate_bytes")),
                    "yes" if r["packaged"] else "no",
                ]
                for r in rows
            ],
        )
    )


@click.command("recommend")
@click.option("--ram", type=click.FloatRange(min=0, min_open=True), help="RAM in GiB.")
@click.option("--task", help="Pipeline tag, e.g. text-generation.")
@click.option("--device", help="A device profile (its RAM unless --ram is given).")
@click.option("--context", type=click.IntRange(min=1), help="Context length in tokens.")
@FORMAT
@REGISTRY
def recommend(
    ram: float | None,
    task: str | None,
    device: str | None,
    context: int | None,
    fmt: str,
    registry_path: str | None,
) -> None:
    """The best approved model that fits in the RAM given (highest net score; ties to the
    smaller estimate), with the numbers that make it fit and the runners-up."""
    from hub_assets.errors import DeviceConfigError
    from hub_assets.hardware.recommend import recommend as choose
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.registry.hardware import approved_fits

    settings = settings_or_exit()
    profile = None
    if device:
        try:
            devices = Pipeline.from_settings(settings).devices()
        except DeviceConfigError as e:
            click.echo(str(e), err=True)
            sys.exit(2)
        if device not in devices:
            click.echo(
                f"Unknown device {device!r}: the profiles are {', '.join(devices)} "
                "(HUB_ASSETS_DEVICES replaces them).",
                err=True,
            )
            sys.exit(2)
        profile = devices[device]
    if ram is None and profile is None:
        click.echo("Give --ram GiB or --device NAME.", err=True)
        sys.exit(2)
    ram_bytes = int(ram * 1024**3) if ram is not None else profile.ram_bytes
    context = context or settings.context_length
    approved = _read(
        registry_path, lambda con: approved_fits(con, settings.mirror_require_promoted)
    )
    rec = choose(approved, ram_bytes, context, task)
    if fmt == "json":
        out = rec.as_dict()
        out["device"] = (
            {"name": profile.name, "accelerators": profile.accelerators()} if profile else None
        )
        click.echo(json.dumps(out, indent=2))
        return
    where = f"{_gib(ram_bytes)} of RAM at {context} tokens" + (f", task {task}" if task else "")
    if profile:
        where += f", device {profile.name}" + (
            f" ({', '.join(profile.accelerators())})" if profile.accelerators() else ""
        )
    if rec.best is None:
        if rec.too_big:
            smallest = rec.too_big[0]
            click.echo(
                f"Nothing approved fits in {where}. The smallest approved model, "
                f"{smallest.model_id}, needs {_gib(smallest.estimate.total_bytes)}."
            )
        else:
            click.echo(f"No approved model to choose from for {where}.")
        for m in rec.unmeasured:
            click.echo(f"  (approved, but no hardware estimate yet: {m})")
        return
    click.echo(f"Best fit for {where}:")
    _option_lines(rec.best, "  ")
    if rec.runners_up:
        click.echo("Runners-up:")
        for o in rec.runners_up:
            _option_lines(o, "  ")
    for o in rec.too_big:
        click.echo(f"Too big: {o.model_id} needs {_gib(o.estimate.total_bytes)}")


def _option_lines(o: object, indent: str) -> None:
    e = o.estimate
    net = f"{o.net_score:.2f}" if o.net_score is not None else "-"
    click.echo(
        f"{indent}{o.model_id}  net {net}  {_params(o.parameters)} parameters "
        f"{o.quantization or ''}  needs {_gib(e.total_bytes)} on {e.runtime} "
        f"(weights {_gib(e.weights_bytes)} + KV {_gib(e.kv_cache_bytes)} + overhead "
        f"{_gib(e.overhead_bytes)}); {_gib(o.headroom_bytes)} left"
    )


@click.command("adapters")
@click.argument("base_model")
@click.option(
    "--relation",
    "relations",
    multiple=True,
    type=click.Choice(["adapter", "finetune", "quantized", "merge"]),
    help="Relations to list (default: adapter and finetune).",
)
@FORMAT
@REGISTRY
def adapters(
    base_model: str, relations: tuple[str, ...], fmt: str, registry_path: str | None
) -> None:
    """Adapters and fine-tunes of a base model (at any depth), with their status and gate
    outcome."""
    from hub_assets.registry.tree import descendants

    rows = _read(
        registry_path,
        lambda con: descendants(con, base_model, relations or ("adapter", "finetune")),
    )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No {' or '.join(relations or ('adapter', 'finetune'))} of {base_model}.")
        return
    click.echo(
        table(
            ["model", "relation", "of", "depth", "status", "gate", "evidence"],
            [
                [
                    r["model_id"],
                    r["relation"],
                    r["parent"],
                    r["depth"],
                    r["status"],
                    r["gate"],
                    r["evidence"],
                ]
                for r in rows
            ],
        )
    )


@click.command("tree")
@click.argument("model_id")
@FORMAT
@REGISTRY
def tree(model_id: str, fmt: str, registry_path: str | None) -> None:
    """A model's place in the model tree: its ancestors, and its descendants by relation."""
    from hub_assets.registry.tree import ancestry, descendants

    up, down = _read(
        registry_path, lambda con: (ancestry(con, model_id), descendants(con, model_id))
    )
    if fmt == "json":
        click.echo(json.dumps({"model_id": model_id, "ancestors": up, "descendants": down}))
        return
    click.echo(model_id)
    click.echo("Ancestors:" if up else "Ancestors: none recorded")
    for a in up:
        click.echo(
            f"  {'  ' * (a['depth'] - 1)}{a['relation']} of {a['model_id']}"
            f" (licence {a['license'] or '?'})"
        )
    click.echo("Descendants:" if down else "Descendants: none recorded")
    for d in down:
        click.echo(
            f"  {'  ' * (d['depth'] - 1)}{d['model_id']}: {d['relation']} of {d['parent']}"
            f" [{d['status'] or '?'}, gate {d['gate'] or '-'}]"
        )


@click.command("samples")
@click.argument("model_id")
@click.option(
    "--worst",
    default=10,
    show_default=True,
    type=click.IntRange(0),
    help="How many samples, lowest score first (0: all).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="A table for people, CSV for spreadsheets, JSON for scripts.",
)
@REGISTRY
def samples(model_id: str, worst: int, fmt: str, registry_path: str | None) -> None:
    """A model's evaluation, sample by sample, worst first: each question (or query) and
    its reference from the pinned dataset, the model's answer (or ranking) and its score.
    Reads the registry and the evaluation cache only."""
    import csv

    from hub_assets.errors import HubAssetsError, exit_code
    from hub_assets.pipeline.samples import worst_samples

    settings = settings_or_exit()
    try:
        out = worst_samples(
            open_registry(settings, registry_path),
            model_id,
            settings.eval_cache_dir,
            worst or None,
        )
    except HubAssetsError as e:
        click.echo(str(e), err=True)
        sys.exit(exit_code(e.outcome))
    if fmt == "json":
        click.echo(json.dumps(out.as_dict(), indent=2))
        return
    fields = ["sample_id", "score", "input", "reference", "prediction", "error"]
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in out.rows:
            writer.writerow(r.__dict__)
        return
    click.echo(
        f"{out.model_id}@{out.revision_sha[:12]}: {out.task} on {out.dataset}, "
        f"{len(out.rows)} of {out.total} samples, lowest {out.metric} first "
        f"(evaluation {out.eval_run_id})"
    )

    def short(text: str, n: int = 60) -> str:
        text = " ".join(text.split())
        return text if len(text) <= n else text[: n - 1] + "…"

    click.echo(
        table(
            ["sample", out.metric, "input", "reference", "prediction"],
            [
                [
                    r.sample_id,
                    "unanswered" if r.score is None else f"{r.score:.3f}",
                    short(r.input),
                    short(r.reference, 40),
                    short(r.prediction or r.error or "", 50),
                ]
                for r in out.rows
            ],
        )
    )
