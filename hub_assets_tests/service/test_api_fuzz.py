"""The whole API under generated input (schemathesis over the service's own /openapi.json, on
a real uvicorn over loopback): no answer is a 5xx, every answer carries X-Request-ID, and
no answer shows a file path or a Python class name. Bounded: a few examples per route."""

import re
import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from hub_assets.cli.instance import ensure_dagster_home
from hub_assets.pipeline.context import Pipeline
from hub_assets.registry.store import Registry
from hub_assets.service.app import create_app
from hub_assets.settings import load_settings
from hub_assets_tests import loopback
from hub_assets_tests.conftest import free_port, pipeline_env

PASSWORD = "a long enough password"
# Ingestion starts pipeline runs: it gets schemathesis's *invalid* cases only (each breaks
# the schema somewhere; one the service still finds valid starts a run against the demo Hub,
# which ends at once for an unknown id). Its valid-looking hostile inputs are tested one by
# one in test_app.py.
INGESTION = r"^/(package/ingest-huggingface|artifact/ingest)$"
# 25 cases per route, the same ones every run, no example database between runs.
BOUNDED = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
INTERNALS = re.compile(r"(/work/|/tmp/|/home/|\.py\b|Traceback|[A-Z][a-z]+Error\b)")


@pytest.fixture(scope="module")
def running_service(_hub_server_session, tmp_path_factory):
    """A service over an empty registry and the demo Hub, set up as `hub-assets serve` sets
    itself up; its user `fuzz` has every permission."""
    tmp = tmp_path_factory.mktemp("fuzz")
    registry = Registry(tmp / "registry.duckdb")
    with pipeline_env(_hub_server_session.url, registry, tmp):
        config = load_settings()
        ensure_dagster_home(config)
        app = create_app(config, registry, Pipeline.from_settings(config).package_store())
        app.state.identity.add_user("fuzz", ["read", "upload", "approve", "admin"], PASSWORD)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        token = loopback.post(
            f"{url}/authenticate", json={"username": "fuzz", "password": PASSWORD}
        ).json()["token"]
        try:
            yield url, {"Authorization": f"Bearer {token}"}
        finally:
            server.should_exit = True
            thread.join(10)


def internals_not_sent(case, text: str) -> list[str]:
    """What in `text` looks like a path, a traceback or an exception's name, and is not
    the case's own input echoed back (a search for `AaError` answers with its `q`)."""
    sent = " ".join(
        str(part)
        for part in (case.formatted_path, case.query, case.path_parameters, case.body)
        if part is not None
    )
    return [m.group() for m in INTERNALS.finditer(text) if m.group() not in sent]


@pytest.mark.slow
def test_no_input_gets_a_5xx(running_service):
    """Every operation, 25 generated cases each, called with the token and anonymously
    (ingestion: invalid cases only, see above)."""
    url, auth = running_service
    api = schemathesis.openapi.from_url(f"{url}/openapi.json").exclude(path_regex=INGESTION)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 12
    seen: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @BOUNDED
        def one(case):
            for headers in (auth, {}):  # with the token, and as an anonymous caller
                response = case.call(base_url=url, headers=headers, timeout=30)
                where = f"{case.method} {case.formatted_path} -> {response.status_code}"
                seen.append(where)
                assert response.status_code < 500, f"{where}: {response.text[:300]}"
                assert response.headers.get("x-request-id"), where
                if "application/json" in str(response.headers.get("content-type")):
                    leaked = internals_not_sent(case, response.text)
                    assert not leaked, f"{where}: {leaked} in {response.text[:300]}"

        one()
    assert len(seen) >= 12 * 2 * 10  # the run covered every route many times

    ingestion = schemathesis.openapi.from_url(f"{url}/openapi.json").include(path_regex=INGESTION)
    for operation in [result.ok() for result in ingestion.get_all_operations()]:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @BOUNDED
        def invalid(case):
            response = case.call(base_url=url, headers=auth, timeout=30)
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            assert response.status_code < 500, f"{where}: {response.text[:300]}"
            assert response.headers.get("x-request-id"), where
            leaked = internals_not_sent(case, response.text)
            assert not leaked, f"{where}: {leaked} in {response.text[:300]}"

        invalid()
