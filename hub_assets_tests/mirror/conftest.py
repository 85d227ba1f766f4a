"""The mirror tests' world: a Hub of their own and a registry the demo pipeline built (once
per test worker; the mirror tests run on one worker, as the `mirror` xdist group)."""

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub_assets.devhub.demo_cases import MINILM, ORG, QA_MODEL
from hub_assets.devhub.server import HubServer
from hub_assets.hub_protocol.http import ProtocolServer
from hub_assets.hub_protocol.routing import ProtocolState
from hub_assets.mirror.access import RegistryTokens
from hub_assets.mirror.store import ApprovedStore
from hub_assets.packaging.store import PackageStore
from hub_assets.registry.store import Registry
from hub_assets.service.identity import Identity
from hub_assets_tests.conftest import pipeline_env

FAILING = f"{ORG}/tiny-gpt2-stale"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="package")
def upstream(demo_catalog, tmp_path_factory):
    """A Hub of the module's own (a hard-linked copy of the demo catalog) it may commit to."""
    root = tmp_path_factory.mktemp("upstream") / "catalog"
    shutil.copytree(demo_catalog, root, copy_function=os.link)
    with HubServer(root) as server:
        yield server


@pytest.fixture(scope="package")
def world(upstream, tmp_path_factory):
    """(registry, package store folder) after the pipeline ingested the three models."""
    tmp = tmp_path_factory.mktemp("world")
    registry = Registry(tmp / "registry.duckdb")
    with pipeline_env(upstream.url, registry, tmp):
        # a process of its own, as a user runs it: an in-process Dagster run in a
        # package-scoped fixture left the worker's captured stderr closed
        for model_id, code in ((QA_MODEL, 0), (MINILM, 0), (FAILING, 4)):
            r = subprocess.run(
                [str(BIN / "hub-assets"), "ingest", model_id, "--wait"],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert r.returncode == code, r.stdout + r.stderr
    return registry, tmp / "packages"


@contextmanager
def serving(registry: Registry, store: PackageStore, *, promoted=False, public=True):
    approved = ApprovedStore(registry, store, require_promoted=promoted, refresh_s=0)
    state = ProtocolState(store=approved, access=RegistryTokens(Identity(registry), public))
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
