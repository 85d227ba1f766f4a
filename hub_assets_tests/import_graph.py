"""The product's floors and its import graph, read from the source (nothing is imported).

`python -m hub_assets_tests.import_graph` prints the package-level graph, floor by floor,
with any import that runs upward or in a circle; `test_layers.py` fails on the same.

A unit is a top-level package or module of `hub_assets` (`registry`, `settings`…). Every
import counts, module-level or inside a function, except those under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hub_assets"

# Lowest first. A unit may import units of its own floor or of floors below, never above;
# and no two units (nor two modules) may import each other, directly or round a circle.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    (
        "leaves",
        (
            "hub_assets",
            "outcomes",
            "errors",
            "failures",
            "states",
            "ids",
            "comparability",
            "environment",
            "box",
            "extras",
            "progress",
            "settings",
        ),
    ),
    ("hub", ("hub", "hub_protocol")),
    ("rules", ("hardware", "evaluation", "metrics", "gate", "discovery", "packaging", "proof")),
    ("registry", ("registry",)),
    ("pipeline", ("pipeline", "publishing")),
    (
        "entry points",
        (
            "resources",
            "defs",
            "definitions",
            "local_runs",
            "mirror",
            "guard",
            "service",
            "cli",
            "devhub",
        ),
    ),
]
# The rules take values, never the settings or the registry: their callers pass them in.
RULES_NEVER_IMPORT = ("settings", "registry")


def floor_of(unit: str) -> int:
    """The index of the floor `unit` stands on (KeyError for a unit no floor lists)."""
    for index, (_, units) in enumerate(FLOORS):
        if unit in units:
            return index
    raise KeyError(f"{unit!r} is on no floor: add it to FLOORS in {__file__}")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """`hub_assets.registry.store` for hub_assets/registry/store.py."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The top-level unit of a product module (`hub_assets` itself for the package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports_of(path: Path, modules: set[str], package: Path = PACKAGE) -> set[str]:
    """The product modules `path` imports (a `from package import module` names the
    module; a name imported from a module names that module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "hub_assets":
                continue
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in modules:
                found.add(name)
                if isinstance(node, ast.ImportFrom):
                    break
    found.discard(module_name(path, package))
    return found


def module_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Product module → the product modules it imports."""
    paths = {module_name(p, package): p for p in package.rglob("*.py")}
    modules = set(paths)
    return {m: imports_of(p, modules, package) for m, p in sorted(paths.items())}


def unit_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Unit → the other units it imports."""
    units: dict[str, set[str]] = defaultdict(set)
    for m, targets in modules.items():
        units[unit_of(m)] |= {unit_of(t) for t in targets} - {unit_of(m)}
    return dict(units)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward_imports(modules: dict[str, set[str]]) -> list[str]:
    """`importer -> imported` for every import that runs to a higher floor, or from a rule
    to the settings or the registry."""
    rules = dict(FLOORS)["rules"]
    wrong = []
    for m, targets in modules.items():
        for t in sorted(targets):
            src, dst = unit_of(m), unit_of(t)
            if floor_of(dst) > floor_of(src) or (src in rules and dst in RULES_NEVER_IMPORT):
                wrong.append(f"{m} -> {t}")
    return wrong


def main() -> None:
    """Print the unit graph floor by floor, then what breaks the rules."""
    modules = module_graph()
    units = unit_graph(modules)
    for name, members in reversed(FLOORS):
        print(f"{name}:")
        for unit in members:
            if unit in units or any(unit_of(m) == unit for m in modules):
                print(f"  {unit:<13} -> {' '.join(sorted(units.get(unit, ()))) or '(nothing)'}")
    problems = upward_imports(modules) + [" <-> ".join(c) for c in circles(modules)]
    print(
        "\n".join(["", "breaks the floors:", *problems])
        if problems
        else "\nno upward import, no circle"
    )


if __name__ == "__main__":
    main()
