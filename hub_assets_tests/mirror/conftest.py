"""The mirror tests' world: a Hub of their own and a registry the demo pipeline built (once
per test session, copied for each worker)."""

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from filelock import FileLock

from hub_assets.devhub.demo_cases import MINILM, ORG, QA_MODEL
from hub_assets.devhub.server import HubServer
from hub_assets.hub_protocol.http import ProtocolServer
from hub_assets.hub_protocol.routing import ProtocolState
from hub_assets.mirror.access import RegistryTokens
from hub_assets.mirror.access_log import RegistryAccessLog
from hub_assets.mirror.access_requests import AccessRequestRoutes
from hub_assets.mirror.store import ApprovedStore
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.identity import Identity
from hub_assets.registry.store import Registry
from hub_assets_tests.conftest import pipeline_env

FAILING = f"{ORG}/tiny-gpt2-stale"


@pytest.fixture(scope="package")
def upstream(demo_catalog, tmp_path_factory):
    """A Hub of the module's own (a hard-linked copy of the demo catalog) it may commit to."""
    root = tmp_path_factory.mktemp("upstream") / "catalog"
    shutil.copytree(demo_catalog, root, copy_function=os.link)
    with HubServer(root) as server:
        yield server


_INGEST_EACH = """
import sys
from click.testing import CliRunner
from hub_assets.cli import main
for model_id, code in zip(sys.argv[1::2], map(int, sys.argv[2::2])):
    done = CliRunner().invoke(main, ["ingest", model_id, "--wait"])
    assert done.exit_code == code, (model_id, done.exit_code, done.output)
"""


def _build_world(url: str, folder: Path) -> None:
    registry = Registry(folder / "registry.duckdb")
    with pipeline_env(url, registry, folder):
        # `hub-assets ingest MODEL --wait` for each model, in a process of its own (an
        # in-process Dagster run in a package-scoped fixture once left the worker's captured
        # stderr closed), one process for the three so the libraries are imported once
        r = subprocess.run(
            [sys.executable, "-c", _INGEST_EACH, QA_MODEL, "0", MINILM, "0", FAILING, "4"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="package")
def world(upstream, tmp_path_factory, worker_id):
    """(registry, package store folder) after the pipeline ingested the three models.

    Built once per test session (its two minutes are the suite's longest set-up): the first
    worker to need it builds it under a lock in the session's shared folder, and every
    worker gets its own copy (registry and packages), so no two processes share a file."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if worker_id != "master" else base) / "mirror-world"
    with FileLock(str(shared) + ".lock"):
        if not (shared / "built").exists():
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir(parents=True)
            _build_world(upstream.url, shared)
            (shared / "built").touch()
    mine = tmp_path_factory.mktemp("world")
    return copy_of((Registry(shared / "registry.duckdb"), shared / "packages"), mine), (
        mine / "packages"
    )


@contextmanager
def serving(
    registry: Registry,
    store: PackageStore,
    *,
    promoted=False,
    public=True,
    logged=False,
    profiles=None,
    gate_config=None,
    refresh_s=0,
):
    """A mirror over `registry` (`logged`: with the access log, written when it stops;
    `profiles`: each token's policy profile, narrowing `gate_config`; `refresh_s`: how
    often it reads the registry, every request by default)."""
    approved = ApprovedStore(
        registry,
        store,
        require_promoted=promoted,
        refresh_s=refresh_s,
        profiles=profiles,
        gate_config=gate_config,
    )
    identity = Identity(registry)
    state = ProtocolState(
        store=approved,
        access=RegistryTokens(identity, public),
        access_log=RegistryAccessLog(registry) if logged else None,
        extra=AccessRequestRoutes(registry, identity, approved.invalidate),
    )
    with ProtocolServer(state) as server:
        yield server


@pytest.fixture(scope="package")
def mirror(world):
    registry, packages = world
    with serving(registry, PackageStore(str(packages))) as server:
        yield server


def copy_of(world, tmp_path: Path) -> Registry:
    """A copy of the world's registry whose packages live in a copy of its store."""
    registry, packages = world
    copy = Registry(tmp_path / "registry.duckdb")
    shutil.copy(registry.path, copy.path)
    shutil.copytree(packages, tmp_path / "packages")
    with copy.write() as con:
        con.execute(
            "UPDATE packages SET uri = replace(uri, ?, ?)",
            [str(packages.resolve()), str((tmp_path / "packages").resolve())],
        )
    return copy


def sha_of(registry: Registry, model_id: str) -> str:
    with registry.read() as con:
        return con.execute(
            "SELECT revision_sha FROM packages WHERE model_id = ?", [model_id]
        ).fetchone()[0]
