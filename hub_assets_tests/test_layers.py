"""The import rules: the product never imports the development Hub, and the Dagster shell
(`defs/`) is imported only by `definitions.py`."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hub_assets"
# The CLI's `hub` commands serve and build the development Hub on purpose.
ALLOWED = {PACKAGE / "cli.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_production_module_imports_the_development_hub():
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "devhub" not in p.relative_to(PACKAGE).parts
        and p not in ALLOWED
        and any(
            m == "hub_assets.devhub" or m.startswith("hub_assets.devhub.")
            for m in imported_modules(p)
        )
    ]
    assert offenders == []


def test_dagster_definitions_are_imported_only_by_definitions():
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] != "defs"
        and p.name != "definitions.py"
        and any(
            m == "hub_assets.defs" or m.startswith("hub_assets.defs.") for m in imported_modules(p)
        )
    ]
    assert offenders == []


def test_the_rule_sees_an_import():
    probe = PACKAGE / "devhub" / "__init__.py"
    assert imported_modules(PACKAGE / "devhub" / "server.py") >= {"hub_assets.devhub.catalog"}
    assert probe.exists()
