"""The fleet on real Dask processes: `dask scheduler` and two `dask worker` on 127.0.0.1.

A 100-tenant synthetic park on PostgreSQL (several processes write it, as on several
machines): a forecast run through the scheduler and its two worker processes stores exactly
what the in-process executor stores on an identical park.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from distributed import get_task_stream

from bitgaram.fleet import DaskExecutor, LocalExecutor, executor_for, plan_jobs, run_forecasts
from bitgaram.store import open_store
from bitgaram.synth import SynthSpec, plan_tenants, read_base_profiles, synth_site, write_store

ROOT = Path(__file__).resolve().parents[2]
#: 100 tenants, 10 days of 15-minute data: enough history for the weekly naive model.
SPEC = SynthSpec(tenants=100, days=10, seed=5)
ISSUED = pd.Timestamp("2025-01-09", tz="Asia/Seoul")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dask_processes() -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes; yields the scheduler address."""
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--no-dashboard"]
    worker = [dask, "worker", f"tcp://{address}", "--host", "127.0.0.1", "--nworkers", "1"]
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [*worker, "--nthreads", "1", *common],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def two_schemas(postgres_server: str) -> Iterator[tuple[str, str]]:
    names = ["fl_" + uuid.uuid4().hex[:10] for _ in range(2)]
    yield (f"{postgres_server}?schema={names[0]}", f"{postgres_server}?schema={names[1]}")
    with psycopg.connect(postgres_server, autocommit=True) as con:
        for name in names:
            con.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _make_park(url: str) -> None:
    base = read_base_profiles(ROOT / "data" / "citylearn_2022_phase_1")
    plan = plan_tenants(SPEC, base.load_shapes.shape[1])
    with open_store(url) as store:
        write_store(base, plan, SPEC, synth_site(plan, SPEC), store)


def _forecast(url: str, executor: LocalExecutor | DaskExecutor) -> pd.DataFrame:
    jobs = plan_jobs(url, ISSUED, chunk=10, history_days=7, model="naive")
    report = run_forecasts(jobs, executor)
    assert report.failures == ()
    assert report.tenants == SPEC.tenants
    with open_store(url, migrate=False) as store:
        return store.read_forecasts(latest=False)


def test_scheduler_and_two_worker_processes_store_what_local_stores(
    dask_processes: str, two_schemas: tuple[str, str]
) -> None:
    local_url, dask_url = two_schemas
    _make_park(local_url)
    _make_park(dask_url)
    local = _forecast(local_url, LocalExecutor())
    with executor_for(f"dask://{dask_processes}") as ex:
        assert isinstance(ex, DaskExecutor)
        ex.client.wait_for_workers(2, timeout=60)
        workers = ex.client.scheduler_info()["workers"]
        pids = {w["pid"] if "pid" in w else w["id"] for w in workers.values()}
        assert len(workers) == 2 and len(pids) == 2
        with get_task_stream(client=ex.client) as stream:
            dask = _forecast(dask_url, ex)
        # Both worker processes ran tasks.
        assert len({task["worker"] for task in stream.data}) == 2
    pd.testing.assert_frame_equal(local, dask)
    assert local["meter_id"].str.endswith("-load").sum() == SPEC.tenants * 24
