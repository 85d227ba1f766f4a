"""Run a sensor once and its run requests in-process: what the daemon would do.

`hub-assets-dev demo` and `hub-assets ingest --wait` (when no daemon is running) use this, so
neither needs a daemon; the runs land in DAGSTER_HOME and show in the UI like any other.
"""

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from hub_assets.definitions import defs
from hub_assets.errors import plain_message
from hub_assets.failures import outcome_of
from hub_assets.registry.packages import REQUEST_TAG, get_request, record_failed_request
from hub_assets.registry.store import Registry
from hub_assets.states import RequestStatus


@dataclass(frozen=True)
class TickedRun:
    """One run a sensor tick asked for, and how it ended."""

    partition_key: str | None
    run_id: str
    success: bool
    tags: dict


_HANDLED = (signal.SIGINT, signal.SIGTERM)


def stoppable_children() -> None:
    """Undo an inherited "ignore SIGTERM" (on the main thread, where Python may set it).

    Dagster copies each step's compute log to the terminal through `tail` processes and
    stops them with SIGTERM. A process started with SIGTERM ignored passes that on to them:
    each step then waited 30 s for its `tail`, and the `tail`s outlived the process, holding
    its caller's pipes open (a caller reading them waited for ever)."""
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def signals_kept() -> Iterator[None]:
    """The process's SIGINT and SIGTERM handlers as they were, after an in-process run.

    Dagster 1.13's in-process execution leaves SIGTERM set to SIGINT's handler. In a process
    started in the background (SIGINT ignored) SIGTERM was then ignored too, and so by every
    process started after it (see `stoppable_children`)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Dagster changes no handler off the main thread
        return
    saved = {s: signal.getsignal(s) for s in _HANDLED}
    try:
        yield
    finally:
        for s, handler in saved.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(s, handler)


def tick_sensor(
    instance: dg.DagsterInstance, sensor_name: str, cursor: str | None = None
) -> list[TickedRun]:
    """Evaluate a sensor, add the partitions it asks for, execute the runs it requests.

    A failed run of an ad-hoc ingest request gets its outcome recorded, as the run-failure
    sensor would.
    """
    stoppable_children()
    sensor = defs.resolve_sensor_def(sensor_name)
    resources = defs.resources or {}
    # instance_ref (not instance): run requests for partitions added in the same tick are
    # resolved against the instance's dynamic partitions, as the daemon does.
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=resources
    ) as ctx:
        data = sensor.evaluate_tick(ctx)
    for req in data.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    job = defs.resolve_job_def("model_pipeline_job")
    runs = []
    for rr in data.run_requests or []:
        run_config = dict(rr.run_config or {})
        # the terminal shows a summary; every event is in the run's log in the UI
        run_config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
        with signals_kept():
            result = job.execute_in_process(
                partition_key=rr.partition_key,
                instance=instance,
                run_config=run_config,
                # the sensor's name and the request's run key, as the daemon tags its runs: a
                # daemon started later (make dev) finds these runs done and starts them no more
                tags={
                    **rr.tags,
                    SENSOR_NAME_TAG: sensor.name,
                    **({RUN_KEY_TAG: rr.run_key} if rr.run_key else {}),
                },
                raise_on_error=False,
            )
        if not result.success and REQUEST_TAG in rr.tags:
            _as_the_failure_sensor(instance, result.run_id)
        runs.append(TickedRun(rr.partition_key, result.run_id, result.success, dict(rr.tags)))
    return runs


def _as_the_failure_sensor(instance: dg.DagsterInstance, run_id: str) -> None:
    """Evaluate `ingest_request_failure_sensor` on a failed run, as the daemon would: the
    request gets its outcome, an unknown model's partition is removed."""
    sensor = defs.resolve_sensor_def("ingest_request_failure_sensor")
    failure = next(
        entry.dagster_event
        for entry in instance.all_logs(run_id)
        if entry.dagster_event_type == dg.DagsterEventType.RUN_FAILURE
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
        resources={"pipeline": (defs.resources or {})["pipeline"]},
    ).for_run_failure()
    sensor(context)


def release_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail runs left in progress by a process that is gone, and free their pool slots.

    A killed run keeps its concurrency-pool slot claimed; with the `registry` pool at limit
    1, every later run would wait for ever. The in-process runners call this first: they
    assume nothing else is running against this DAGSTER_HOME (the daemon of `make dev`
    frees slots of dead runs itself through run monitoring).
    """
    active = (
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.CANCELING,
    )
    released = []
    for run in instance.get_runs(dg.RunsFilter(statuses=list(active))):
        instance.report_run_failed(run, "Abandoned: the process running it is gone.")
        released.append(run.run_id)
    storage = instance.event_log_storage
    for pool in storage.get_concurrency_keys():
        for claim in storage.get_concurrency_info(pool).claimed_slots:
            run = instance.get_run_by_id(claim.run_id)
            if run is None or run.is_finished or claim.run_id in released:
                storage.free_concurrency_slots_for_run(claim.run_id)
                released.append(claim.run_id)
    return sorted(set(released))


_IN_PROCESS = threading.Lock()  # one in-process runner at a time per process


def daemon_running(instance: dg.DagsterInstance) -> bool:
    """Whether a Dagster daemon has reported in during the last minute."""
    try:
        beats = instance.get_daemon_heartbeats()
    except Exception:  # noqa: BLE001 - no daemon storage: no daemon
        return False
    return any(time.time() - hb.timestamp < 60 for hb in beats.values())


def see_request_through(
    instance: dg.DagsterInstance, registry: Registry, request_id: int, timeout_s: float
) -> dict:
    """An ingest request's row once it has ended, or as it stands after `timeout_s`.

    With a daemon serving the instance, its sensor runs the request and this only waits;
    without one, the request runs here, on a background thread that goes on after the
    deadline (one in-process runner at a time, so concurrent callers never run the same
    request twice). The CLI's `ingest --wait` and the registry service's ingestion routes
    both come through here.
    """
    deadline = time.monotonic() + timeout_s
    runner = None
    if not daemon_running(instance):
        stoppable_children()  # the runner thread cannot: only the main thread sets handlers
        runner = threading.Thread(
            target=_run_pending_or_record, args=(registry, request_id), daemon=True
        )
        runner.start()
    interval = 0.2
    while True:
        # from the registry's result cache while no write has landed: each poll costs a
        # stat, not a connection (that took a fifth of a waiting ingest's CPU)
        request = registry.cached(
            ("ingest_request", request_id), lambda con: get_request(con, request_id)
        )
        if RequestStatus(request["status"]).finished:
            if runner is not None:  # let the tick finish the other requests it took on
                runner.join(max(0.0, deadline - time.monotonic()))
            return request
        left = deadline - time.monotonic()
        if left <= 0:
            return request
        if runner is not None and runner.is_alive():
            runner.join(min(interval, left))  # back at once when the tick ends
        else:
            time.sleep(min(interval, left))
        interval = min(interval * 1.5, 1.0)


def _run_pending_or_record(registry: Registry, request_id: int) -> None:
    """Run the pending request here; if the runner itself fails (not a run: the runs record
    their own failures), the request is failed with its error rather than left pending,
    so a waiting caller gets an answer instead of waiting out its timeout."""
    try:
        _run_pending(registry, request_id)
    except Exception as e:  # noqa: BLE001 - any failure of the runner ends the request
        record_failed_request(
            registry, request_id, "", plain_message(f"{type(e).__name__}: {e}"), outcome_of(e)
        )


def _run_pending(registry: Registry, request_id: int) -> None:
    with _IN_PROCESS, dg.DagsterInstance.get() as instance:
        with registry.read() as con:
            if get_request(con, request_id)["status"] != RequestStatus.PENDING:
                return  # another caller's tick ran it
        release_abandoned_runs(instance)
        tick_sensor(instance, "ingest_request_sensor", cursor=str(request_id - 1))
