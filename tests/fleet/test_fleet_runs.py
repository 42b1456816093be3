"""Fleet runs: local and Dask give identical stored results; plans respect the battery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bitgaram.errors import ConfigError
from bitgaram.fleet import (
    SCHEDULE_MODEL,
    DaskExecutor,
    LocalExecutor,
    executor_for,
    plan_jobs,
    run_forecasts,
    run_schedules,
)
from bitgaram.fleet.tasks import schedule_tenant
from bitgaram.site.model import BatteryAsset
from bitgaram.store import open_store
from bitgaram.synth import SynthSpec, plan_tenants, read_base_profiles, synth_site, write_store

ROOT = Path(__file__).resolve().parents[2]
#: Five tenants, three weeks of 15-minute data; battery share raised so several plan.
SPEC = SynthSpec(tenants=5, days=21, seed=11, battery_share=0.6)
#: Issue time: local midnight of day 20 (UTC 15:00 the day before).
ISSUED = pd.Timestamp("2025-01-20", tz="Asia/Seoul")


def _make_park(path: Path) -> str:
    base = read_base_profiles(ROOT / "data" / "citylearn_2022_phase_1")
    plan = plan_tenants(SPEC, base.load_shapes.shape[1])
    with open_store(path) as store:
        write_store(base, plan, SPEC, synth_site(plan, SPEC), store)
    return str(path)


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    with DaskExecutor(n_workers=1, threads_per_worker=2) as ex:
        yield ex


def _run_all(url: str, executor: LocalExecutor | DaskExecutor) -> pd.DataFrame:
    for model in ("naive", "gbm"):
        jobs = plan_jobs(url, ISSUED, chunk=2, history_days=14, model=model)
        report = run_forecasts(jobs, executor)
        assert report.failures == ()
        assert report.tenants == SPEC.tenants
    jobs = plan_jobs(url, ISSUED, chunk=2, batteries_only=True)
    report = run_schedules(jobs, executor)
    assert report.failures == ()
    with open_store(url) as store:
        return store.read_forecasts(latest=False)


def test_local_and_dask_store_identical_results(
    tmp_path: Path, dask_executor: DaskExecutor
) -> None:
    local = _run_all(_make_park(tmp_path / "local.duckdb"), LocalExecutor())
    dask = _run_all(_make_park(tmp_path / "dask.duckdb"), dask_executor)
    pd.testing.assert_frame_equal(local, dask)
    models = set(local["model"])
    assert SCHEDULE_MODEL in models and len(models) >= 3
    n_load = SPEC.tenants
    # Naive point forecasts: every load meter, 24 hours.
    naive = local[local["model"] == "seasonal_naive_168"]
    assert naive["meter_id"].str.endswith("-load").sum() == n_load * 24


def test_schedules_respect_the_battery_and_the_load(tmp_path: Path) -> None:
    url = _make_park(tmp_path / "s.duckdb")
    jobs = plan_jobs(url, ISSUED, chunk=3, history_days=14, model="naive")
    run_forecasts(jobs, LocalExecutor())
    run_schedules(plan_jobs(url, ISSUED, chunk=3, batteries_only=True), LocalExecutor())
    with open_store(url) as store:
        site = store.load_site()
        plans = store.read_forecasts(model=SCHEDULE_MODEL)
        loads = store.read_forecasts(model="seasonal_naive_168")
    batteries = [a for a in site.assets if isinstance(a, BatteryAsset)]
    assert batteries and plans["meter_id"].nunique() == len(batteries)
    for bat in batteries:
        plan = plans[plans["meter_id"] == bat.meter].sort_values("ts")
        energy = plan["value"].to_numpy()
        assert len(energy) == 24
        assert np.all(np.abs(energy) <= bat.power_kw + 1e-6)
        load = loads[loads["meter_id"] == f"{bat.tenant}-load"].sort_values("ts")
        # No export credit: discharging never exceeds the tenant's forecast load.
        assert np.all(-energy <= load["value"].to_numpy() + 1e-6)
        assert plan["ts"].min() == ISSUED.tz_convert("UTC")


def test_battery_shifts_energy_to_cheap_hours() -> None:
    bat = BatteryAsset(id="b", capacity_kwh=100, power_kw=50, initial_soc=0.0)
    price = np.r_[np.full(8, 50.0), np.full(8, 200.0), np.full(8, 50.0)]
    net = np.full(24, 80.0)
    energy, cost = schedule_tenant(bat, net, price)
    assert energy[:8].sum() > 50  # charges while cheap
    assert energy[8:16].sum() < -50  # discharges while dear
    plain = float(price @ net)
    assert cost < plain


def test_missing_forecasts_are_reported_per_tenant(tmp_path: Path) -> None:
    url = _make_park(tmp_path / "s.duckdb")
    report = run_schedules(plan_jobs(url, ISSUED, batteries_only=True), LocalExecutor())
    assert report.rows == 0
    assert report.failures and all("no load forecast" in m for _, m in report.failures)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        executor_for("spark://x")
    with pytest.raises(ConfigError):
        executor_for("dask://")
    url = _make_park(tmp_path / "s.duckdb")
    with pytest.raises(ConfigError):
        plan_jobs(url, ISSUED, model="prophet")
    with pytest.raises(ConfigError):
        plan_jobs(url, ISSUED, chunk=0)


def test_local_executor_keeps_order_and_reports_each_job() -> None:
    seen: list[tuple[int, int]] = []
    out = LocalExecutor().map(lambda x: x * x, [3, 1, 2], lambda i, r: seen.append((i, r)))
    assert out == [9, 1, 4]
    assert seen == [(0, 9), (1, 1), (2, 4)]


def test_dask_executor_keeps_order(dask_executor: DaskExecutor) -> None:
    seen: list[int] = []
    out = dask_executor.map(abs, [-3, 1, -2, 5], lambda i, r: seen.append(i))
    assert out == [3, 1, 2, 5]
    assert sorted(seen) == [0, 1, 2, 3]


def test_cli_fleet_runs(tmp_path: Path) -> None:
    import bitgaram.cli.fleet  # noqa: F401  (registers the commands)
    from bitgaram.cli import app

    url = _make_park(tmp_path / "s.duckdb")
    runner = CliRunner()
    args = ["--day", "2025-01-20", "--store", url, "--executor", "local"]
    result = runner.invoke(app, ["fleet", "forecast", *args, "--model", "naive"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["fleet", "schedule", *args])
    assert result.exit_code == 0, result.output
    with open_store(url) as store:
        assert not store.read_forecasts(model=SCHEDULE_MODEL).empty
