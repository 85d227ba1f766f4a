"""Shared fixtures: real servers on free loopback ports, built once per test worker.

The Hub server's port is chosen before anything imports huggingface_hub or datasets, and
HF_ENDPOINT points at it: those libraries read the endpoint at import time, and `datasets`
has no other way to be pointed at a Hub. Code under test still passes `endpoint=` itself.
"""

import os
import socket
import tempfile
from pathlib import Path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HUB_PORT = free_port()
GATED_TOKEN = "hf_test_gated_access_token"
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="hub-assets-test-hf-home-")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HUB_ETAG_TIMEOUT"] = "5"
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)

import pytest  # noqa: E402

from hub_assets.hub.catalog import Catalog  # noqa: E402
from hub_assets.hub.demo_catalog import build_demo  # noqa: E402
from hub_assets.hub.server import HubServer  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def demo_catalog() -> Path:
    """The demo catalog in data/demo_hub, built once (cached across runs)."""
    return build_demo(PROJECT_ROOT / "data" / "demo_hub")


@pytest.fixture(scope="session")
def _hub_server_session(demo_catalog: Path):
    server = HubServer(demo_catalog, port=HUB_PORT, tokens=[GATED_TOKEN]).start()
    yield server
    server.stop()


@pytest.fixture
def hub_server(_hub_server_session: HubServer):
    """The Hub server over the demo catalog (at HF_ENDPOINT); faults and counts reset."""
    _hub_server_session.clear_faults()
    _hub_server_session.reset_requests()
    yield _hub_server_session
    _hub_server_session.clear_faults()


@pytest.fixture
def mutable_hub(tmp_path: Path):
    """A Hub server over a small catalog of its own, that tests may add commits to."""
    catalog = Catalog(tmp_path / "catalog")
    catalog.commit(
        "model",
        "acme/small",
        {
            "README.md": b"---\nlicense: mit\npipeline_tag: text-generation\n---\n# small\n",
            "config.json": b'{"model_type": "gpt2"}',
            "weights/model.safetensors": b"\x00" * 4096,
        },
        authors=["alice"],
        title="first",
        date="2026-01-01T00:00:00Z",
        meta={"downloads": 5, "likes": 1, "library_name": "transformers"},
    )
    with HubServer(catalog) as server:
        yield server


@pytest.fixture
def registry(tmp_path: Path):
    """An empty registry file of the test's own."""
    from hub_assets.registry.store import Registry

    return Registry(tmp_path / "registry.duckdb")


@pytest.fixture
def hub_client(hub_server, tmp_path: Path):
    """A HubClient on the demo Hub server with a fresh metadata cache."""
    from hub_assets.hub.client import HubClient, HubSettings

    return HubClient(
        HubSettings(endpoint=hub_server.url, cache_dir=tmp_path / "cache", requests_per_second=0)
    )


@pytest.fixture
def discovered(hub_client, registry):
    """A registry after one discovery run over the demo catalog."""
    from hub_assets.discovery.candidates import discover

    outcome = discover(hub_client, registry, run_id="run-discovery-1")
    return registry, outcome
