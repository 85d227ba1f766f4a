"""The import rules: imports run down the floors only and never in a circle
(`import_graph.FLOORS`), the product never imports the development Hub, the Dagster shell
(`defs/`) is imported only by `definitions.py`, and only `settings.py` reads settings from
the environment (`environment.py` only hands it on to child processes)."""

import ast
from pathlib import Path

from hub_assets_tests import import_graph

PACKAGE = Path(__file__).resolve().parent.parent / "hub_assets"
ALLOWED: set[Path] = set()  # the development Hub has its own command, `hub-assets-dev`


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


def reads_the_environment(path: Path) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                return True
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(a.name in ("environ", "getenv") for a in node.names):
                return True
    return False


def test_only_the_settings_module_reads_the_environment():
    """Settings are read through pydantic-settings in `settings.py` alone; `environment.py`
    touches `os.environ` only to hand it on to child processes."""
    readers = [
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if reads_the_environment(p)
    ]
    assert readers == ["environment.py"]
    settings_readers = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if any(m.startswith("pydantic_settings") for m in imported_modules(p))
    ]
    assert settings_readers == ["settings.py"]


def test_imports_run_down_the_floors_and_never_in_a_circle():
    modules = import_graph.module_graph()
    assert import_graph.upward_imports(modules) == []
    assert import_graph.circles(modules) == []
    assert import_graph.circles(import_graph.unit_graph(modules)) == []


def test_every_unit_stands_on_a_floor():
    units = {import_graph.unit_of(m) for m in import_graph.module_graph()}
    for unit in units:
        import_graph.floor_of(unit)  # KeyError names a unit no floor lists


def test_the_floor_rule_sees_an_upward_import_and_a_circle(tmp_path):
    package = tmp_path / "hub_assets"
    (package / "registry").mkdir(parents=True)
    (package / "metrics").mkdir()
    for folder in (package, package / "registry", package / "metrics"):
        (folder / "__init__.py").write_text("")
    (package / "errors.py").write_text("import hub_assets.settings\n")
    (package / "settings.py").write_text("from hub_assets import errors\n")
    (package / "metrics" / "score.py").write_text("from hub_assets.registry.store import X\n")
    (package / "registry" / "store.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hub_assets.pipeline\n"
    )
    modules = import_graph.module_graph(package)
    assert import_graph.upward_imports(modules) == [
        "hub_assets.metrics.score -> hub_assets.registry.store"
    ]
    assert import_graph.circles(modules) == [["hub_assets.errors", "hub_assets.settings"]]


def test_the_environment_rule_sees_a_read(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nx = os.environ.get('A')\n")
    assert reads_the_environment(probe)
    probe.write_text("from os import getenv\n")
    assert reads_the_environment(probe)
    probe.write_text("import os\nos.replace('a', 'b')\n")
    assert not reads_the_environment(probe)
