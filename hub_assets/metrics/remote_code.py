"""Remote code a repo would make transformers run (`auto_map`, `custom_pipelines` in any JSON
config at any depth, and the Python files they name) and chat templates parsed, never
rendered, for Jinja2 sandbox-escape shapes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def _auto_map_refs(value: object) -> list[str]:
    refs: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            refs += _auto_map_refs(v)
    elif isinstance(value, list):
        for v in value:
            refs += _auto_map_refs(v)
    elif isinstance(value, str) and value:
        refs.append(value)
    return refs


def _code_paths(refs: Iterable[str]) -> list[str]:
    out = set()
    for ref in refs:
        repo, sep, target = ref.partition("--")
        module = (target if sep else ref).rsplit(".", 1)[0]
        path = module.replace(".", "/") + ".py"
        out.add(path if not sep else f"{repo}:{path}")
    return sorted(out)


def remote_code_in(config: object, where: str = "config.json", depth: int = 0) -> list[str]:
    """What `trust_remote_code=True` would import because of one parsed config: `auto_map`
    at any depth (and `custom_pipelines`' implementations), as repo paths prefixed with
    the config that names them; a reference to another repo is kept as written."""
    found: list[str] = []
    if depth > 32:
        return [f"{where}: nested too deep to check"]
    if isinstance(config, dict):
        for key, value in config.items():
            if key == "auto_map":
                found += [f"{where}: {p}" for p in _code_paths(_auto_map_refs(value))]
                if not _auto_map_refs(value):
                    found.append(f"{where}: auto_map")
            elif key == "custom_pipelines" and value:
                impls = [v.get("impl") for v in (value.values() if isinstance(value, dict) else [])]
                refs = [i for i in impls if isinstance(i, str) and i]
                found += [f"{where}: custom pipeline {p}" for p in _code_paths(refs)] or [
                    f"{where}: custom_pipelines"
                ]
            else:
                found += remote_code_in(value, where, depth + 1)
    elif isinstance(config, list):
        for item in config:
            found += remote_code_in(item, where, depth + 1)
    return found


def remote_code_files(config: Mapping | None) -> list[str]:
    """The Python files `auto_map` in config.json points at (what `trust_remote_code=True`
    would import), as repo paths; a reference to another repo is kept as written."""
    return sorted(
        {f.split(": ", 1)[1] for f in remote_code_in(config or {}, "config.json") if ": " in f}
    )


# Attributes and names that the known Jinja2 sandbox escapes go through (dunder access to
# reach __globals__/__subclasses__, str.format's attribute lookups, frame objects).
UNSAFE_TEMPLATE_ATTRS = {
    "mro",
    "format",
    "format_map",
    "func_globals",
    "f_globals",
    "f_locals",
    "f_builtins",
    "gi_frame",
    "gi_code",
    "cr_frame",
    "ag_frame",
    "tb_frame",
    "co_code",
}


def template_findings(source: str, where: str) -> list[str]:
    """Why a chat template must not be rendered: a syntax error, or the shape of a known
    Jinja2 sandbox escape (an attribute or string starting with `_`, `format`/`mro` and
    frame attributes, `attr` with a computed name). Parsed, never rendered."""
    from jinja2 import nodes
    from jinja2.exceptions import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        tree = ImmutableSandboxedEnvironment().parse(source)
    except (TemplateSyntaxError, RecursionError, ValueError) as e:
        return [f"{where}: chat template does not parse ({str(e)[:100]})"]
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Const, nodes.Filter, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            if node.attr.startswith("_") or node.attr in UNSAFE_TEMPLATE_ATTRS:
                found.add(f"attribute .{node.attr}")
        elif isinstance(node, nodes.Const):
            if isinstance(node.value, str) and (node.value.startswith("_") or "__" in node.value):
                found.add(f"string {node.value[:30]!r}")
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            arg = node.args[0] if node.args else None
            if not isinstance(arg, nodes.Const):
                found.add("attr filter with a computed name")
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if isinstance(arg, nodes.Const) and arg.value in UNSAFE_TEMPLATE_ATTRS:
                found.add(f"item [{arg.value!r}]")
    return [f"{where}: chat template uses {f} (a sandbox-escape pattern)" for f in sorted(found)]


def _templates_of(config: object, where: str) -> list[tuple[str, str]]:
    if not isinstance(config, dict):
        return []
    value = config.get("chat_template")
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, list):
        return [
            (f"{where} ({t.get('name', '?')})", t["template"])
            for t in value
            if isinstance(t, dict) and isinstance(t.get("template"), str)
        ]
    return []
