"""Shared fixtures: real servers on free loopback ports, built once per test worker.

The Hub server's port is chosen before anything imports huggingface_hub or datasets, and
HF_ENDPOINT points at it: those libraries read the endpoint at import time, and `datasets`
has no other way to be pointed at a Hub. Code under test still passes `endpoint=` itself.
"""

import os
import socket
import tempfile
from contextlib import contextmanager
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
os.environ["HF_HUB_DISABLE_XET"] = "1"  # the development Hub takes Git LFS uploads, not Xet
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)
# Two test workers on two cores: torch's default of one OpenMP thread per core gave each
# worker (and each pipeline process it starts) two spinning threads on a shared core; a
# MiniLM evaluation in two processes at once took 57 s each with two threads, 45 s with one.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Every Hub of the suite is our own, on loopback: no quota to respect. At the default of 3
# requests a second, a model's pipeline run spent a third of its time sleeping. The pacing
# itself is tested with its own settings (hub/test_hub_settings.py).
os.environ["HUB_ASSETS_HUB_RATE_LIMIT"] = "0"

import signal  # noqa: E402
import sys  # noqa: E402

import absl.logging  # noqa: E402
import pytest  # noqa: E402

from hub_assets.devhub.catalog import Catalog  # noqa: E402
from hub_assets.devhub.demo_catalog import build_demo  # noqa: E402
from hub_assets.devhub.server import HubServer  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The suite stops the servers and benches it starts with SIGTERM: a worker that inherited
# "ignore SIGTERM" would pass it on to them and wait on them for ever.
if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

# absl (rouge_score imports it) keeps a logging handler on the sys.stderr of the moment it
# was set up, and closes that stream whenever logging is configured again (an in-process
# Dagster run calls `logging.config.dictConfig`, which closes every handler) unless it is
# the sys.stderr of that later moment. Under click's CliRunner, which swaps sys.stderr, that
# closed pytest's capture file and every later test of the worker errored. The process's
# own stderr is never closed by absl.
absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module's tests run on one worker unless they name a group of their own: its
    module-scoped fixtures (a service with an ingested model, a pipeline run) are then
    built once, not once per worker that happened to get one of its tests."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and item.module is not None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    # The groups with the most slow (end-to-end) tests first: the workers then end on short
    # groups together, not one on a two-minute group while the other idles. `make test`
    # passes --no-loadscope-reorder so the scheduler keeps this order.
    # A group with an `early` test goes before all: on a fresh clone its worker builds the
    # demo catalog at once. The groups that need no catalog come next, so the other worker
    # runs them meanwhile instead of waiting on the build (xdist hands each worker two
    # groups, then one more as each ends); the groups that need it follow.
    group = {id(i): i.get_closest_marker("xdist_group").args[0] for i in items}
    early: set[str] = set()
    catalog: set[str] = set()
    slow: dict[str, int] = {}
    first: dict[str, int] = {}
    for n, item in enumerate(items):
        g = group[id(item)]
        first.setdefault(g, n)
        slow[g] = slow.get(g, 0) + (item.get_closest_marker("slow") is not None)
        if item.get_closest_marker("early") is not None:
            early.add(g)
        if "demo_catalog" in getattr(item, "fixturenames", ()):
            catalog.add(g)

    def order(item: pytest.Item) -> tuple:
        g = group[id(item)]
        return (g not in early, g in catalog, -slow[g], first[g])

    items.sort(key=order)


@pytest.fixture(autouse=True)
def _no_current_dagster_instance_left_behind():
    """Dagster 1.13's `DagsterInstance.__enter__` makes the instance's state storage the
    process's current one (a ContextVar) and its `__exit__` never resets it, so once that
    instance was collected, the next `Definitions` resolved in the worker failed with
    "Attempted to resolve undefined DagsterInstance weakref". Each test starts and ends
    with none current."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@pytest.fixture(autouse=True)
def _leaves_the_captured_streams_open():
    """No test may leave the worker's captured stdout or stderr closed: the tests after it
    would all fail, far from the cause. This names the test that did it."""
    yield
    closed = [name for name in ("stdout", "stderr") if getattr(sys, name).closed]
    assert closed == [], f"this test left sys.{' and sys.'.join(closed)} closed"


@pytest.fixture(autouse=True)
def _signal_handlers_as_found():
    """Dagster's in-process runs (`materialize`, `execute_in_process`) leave SIGTERM set to
    SIGINT's handler: in a worker started in the background, SIG_IGN. Every process a later
    test started then ignored SIGTERM (a bench's `http.server`, Dagster's compute-log
    `tail`s) and the suite hung on them. Each test ends with the handlers it found."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        if handler is not None and signal.getsignal(s) != handler:
            signal.signal(s, handler)


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


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL (Debian's server) in a temporary folder on a free loopback port."""
    from hub_assets_tests.local_servers import LocalPostgres

    server = LocalPostgres().start()
    yield server
    server.stop()


@pytest.fixture
def redis_server():
    """A real Redis (Debian's server) on a free loopback port: a Celery broker."""
    from hub_assets_tests.local_servers import LocalRedis

    server = LocalRedis().start()
    yield server
    server.stop()


@pytest.fixture
def shared_registry(postgres_server):
    """An empty shared registry: a database of the test's own on the PostgreSQL server."""
    import uuid

    from hub_assets.registry.location import registry_at

    return registry_at(postgres_server.create_database(f"registry_{uuid.uuid4().hex[:12]}"))


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
    from hub_assets.pipeline.discover import discover

    outcome = discover(hub_client, registry, run_id="run-discovery-1")
    return registry, outcome


@pytest.fixture(scope="session")
def moto_server():
    """A real moto S3 server on a free loopback port (session-wide)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_CREDENTIALS = {
    "key": "testing",
    "secret": "testing",
    "client_kwargs": {"region_name": "us-east-1"},
    "config_kwargs": {"retries": {"max_attempts": 2, "mode": "standard"}},
}


@pytest.fixture
def s3_bucket(moto_server):
    """A fresh bucket on the moto server; yields (endpoint, bucket name)."""
    import uuid

    import boto3

    name = f"packages-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return moto_server, name


@pytest.fixture
def fault_proxy(moto_server):
    """The fault-injecting proxy in front of moto."""
    from hub_assets_tests.faultproxy import FaultProxy

    proxy = FaultProxy(moto_server)
    yield proxy
    proxy.stop()


@pytest.fixture
def gated_registry(hub_client, registry):
    """A registry in which given demo models have metadata and a gate decision.

    Call it with (model_id, passed); returns the Registry. The metrics are a fixed set, so
    packaging tests need not run the models.
    """
    from hub_assets.gate.config import load_gate_config
    from hub_assets.gate.decision import decide
    from hub_assets.metrics.scoring import ALL_METRICS
    from hub_assets.pipeline.discover import discover
    from hub_assets.registry import metrics as reg_metrics
    from hub_assets.registry.models import save_revision

    discover(hub_client, registry, run_id="discovery")

    def make(model_id: str, passed: bool = True):
        fetched = hub_client.model_metadata(model_id)
        value = 0.9 if passed else 0.2
        scores = {m: value for m in ALL_METRICS}
        decision = decide(model_id, scores, load_gate_config())
        with registry.write() as con:
            sha = save_revision(
                con,
                model_id,
                fetched.data,
                from_cache=False,
                fetched_at=fetched.fetched_at,
                run_id="meta",
            )
            reg_metrics.write_metrics(
                con,
                model_id,
                sha,
                [
                    {
                        "metric": m,
                        "value": v,
                        "latency_ms": 1.0,
                        "inputs_fingerprint": "f",
                        "code_version": "test",
                        "details": None,
                    }
                    for m, v in scores.items()
                ],
                "trust",
            )
            reg_metrics.write_gate_result(
                con,
                model_id=model_id,
                sha=sha,
                passed=decision.passed,
                failed=decision.failed,
                message=decision.message,
                thresholds=decision.thresholds,
                config_version="test",
                target_device="jetson_nano",
                run_id="gate",
            )
        return registry

    return make


def record_pass(con, model_id: str, sha: str, run_id: str = "r1") -> None:
    """A passing gate result for `model_id@sha` under the built-in gate config, with its
    basis (as `pipeline.gate` records one)."""
    from hub_assets.gate.config import load_gate_config
    from hub_assets.registry.metrics import write_gate_result

    gate = load_gate_config()
    write_gate_result(
        con,
        model_id=model_id,
        sha=sha,
        passed=True,
        failed=[],
        message="ok",
        thresholds=gate.thresholds,
        config_version=gate.version,
        target_device=gate.target_device,
        run_id=run_id,
        basis=gate.basis(),
    )


def reload_definitions() -> None:
    """Rebuild the settings and the Dagster definitions from the current environment."""
    import importlib

    import hub_assets.definitions
    import hub_assets.defs
    import hub_assets.local_runs

    importlib.reload(hub_assets.defs)  # the settings, read once per process
    importlib.reload(hub_assets.definitions)  # the resources built from them
    importlib.reload(hub_assets.local_runs)


@contextmanager
def pipeline_env(endpoint: str, registry, tmp_path: Path):
    """The environment the pipeline, `hub-assets ingest` and the registry service read,
    pointed at a Hub and this test's files; the Dagster definitions rebuilt from it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        mp.setenv("HUB_ASSETS_HUB_ENDPOINT", endpoint)
        mp.setenv("HUB_ASSETS_REGISTRY", registry.location)
        mp.setenv("HUB_ASSETS_CACHE_DIR", str(tmp_path / "cache"))
        mp.setenv("HUB_ASSETS_WORK_DIR", str(tmp_path / "work"))
        mp.setenv("HUB_ASSETS_EVAL_CACHE_DIR", str(tmp_path / "eval"))
        mp.setenv("HUB_ASSETS_PACKAGE_STORE", str(tmp_path / "packages"))
        reload_definitions()
        try:
            yield
        finally:
            mp.undo()
            reload_definitions()
