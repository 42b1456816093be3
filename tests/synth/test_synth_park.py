"""The synthetic park generator: determinism, independence of tenants, physics, outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bitgaram.errors import ConfigError
from bitgaram.site import load_site
from bitgaram.store import open_store
from bitgaram.synth import (
    BaseProfiles,
    SynthSpec,
    generate_chunk,
    plan_tenants,
    read_base_profiles,
    site_toml,
    synth_site,
    write_files,
    write_store,
)
from bitgaram.synth.park import PATTERNS, pattern_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base() -> BaseProfiles:
    return read_base_profiles(ROOT / "data" / "citylearn_2022_phase_1")


def _gen(base: BaseProfiles, spec: SynthSpec) -> tuple[np.ndarray, np.ndarray]:
    plan = plan_tenants(spec, base.load_shapes.shape[1])
    return generate_chunk(base, plan, spec, slice(0, spec.tenants))


def test_same_seed_same_park_other_seed_other_park(base: BaseProfiles) -> None:
    spec = SynthSpec(tenants=4, days=3, seed=7)
    load1, pv1 = _gen(base, spec)
    load2, pv2 = _gen(base, spec)
    np.testing.assert_array_equal(load1, load2)
    np.testing.assert_array_equal(pv1, pv2)
    other, _ = _gen(base, SynthSpec(tenants=4, days=3, seed=8))
    assert not np.allclose(load1, other)


def test_tenant_is_the_same_in_small_and_large_parks(base: BaseProfiles) -> None:
    small, _ = _gen(base, SynthSpec(tenants=3, days=2))
    large_spec = SynthSpec(tenants=9, days=2)
    large, _ = _gen(base, large_spec)
    np.testing.assert_array_equal(small, large[:3])
    # ... and a chunk generated on its own equals the same rows of the whole.
    plan = plan_tenants(large_spec, base.load_shapes.shape[1])
    chunk, _ = generate_chunk(base, plan, large_spec, slice(4, 7))
    np.testing.assert_array_equal(chunk, large[4:7])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_load_is_positive_and_near_the_planned_mean(seed: int) -> None:
    base = read_base_profiles(ROOT / "data" / "citylearn_2022_phase_1")
    spec = SynthSpec(tenants=3, days=28, seed=seed)
    plan = plan_tenants(spec, base.load_shapes.shape[1])
    load, pv = generate_chunk(base, plan, spec, slice(0, 3))
    assert load.shape == (3, 28 * 96)
    assert np.all(load >= 0) and np.all(np.isfinite(load))
    mean_kw = load.mean(axis=1) / spec.step_hours
    # Shapes and patterns have mean 1 over a year; over four weeks within +-40 %.
    np.testing.assert_allclose(mean_kw, plan.mean_kw, rtol=0.4)
    assert np.all(pv[plan.pv_kwp == 0] == 0)
    peak_kw = pv.max(axis=1) / spec.step_hours
    assert np.all(peak_kw <= plan.pv_kwp + 1e-9)


def test_pv_is_zero_at_night_and_patterns_follow_shifts(base: BaseProfiles) -> None:
    spec = SynthSpec(tenants=40, days=7, seed=3)
    plan = plan_tenants(spec, base.load_shapes.shape[1])
    _, pv = generate_chunk(base, plan, spec, slice(0, 40))
    hours = spec.local_index().hour
    night = (hours >= 22) | (hours < 4)
    assert pv[:, night].max() == 0
    assert pv[plan.pv_kwp > 0][:, ~night].max() > 0
    table = pattern_table(15)
    np.testing.assert_allclose(table.mean(axis=1), 1.0)
    office = list(PATTERNS).index("office")
    # Office: Sunday is idle, a weekday 10:00 is busy.
    sunday, monday_10 = 6 * 96 + 40, 40
    assert table[office, monday_10] > table[office, sunday]


def test_bad_spec_is_refused() -> None:
    with pytest.raises(ConfigError, match="divide an hour"):
        SynthSpec(tenants=1, resolution="7min")
    with pytest.raises(ConfigError, match="tenants"):
        SynthSpec(tenants=0)


def test_site_round_trips_through_toml(base: BaseProfiles, tmp_path: Path) -> None:
    spec = SynthSpec(tenants=12, days=1)
    site = synth_site(plan_tenants(spec, base.load_shapes.shape[1]), spec)
    path = tmp_path / "site.toml"
    path.write_text(site_toml(site), encoding="utf-8")
    assert load_site(path) == site
    assert len(site.tenants) == 12
    assert {m.kind.value for m in site.meters} >= {"load"}


def test_files_and_store_hold_the_same_readings(base: BaseProfiles, tmp_path: Path) -> None:
    spec = SynthSpec(tenants=5, days=2, seed=1)
    plan = plan_tenants(spec, base.load_shapes.shape[1])
    site = synth_site(plan, spec)
    out = write_files(base, plan, spec, site, tmp_path / "park", chunk=2)
    table = pq.read_table(out.readings_file).to_pandas()
    n_pv = int((plan.pv_kwp > 0).sum())
    assert out.readings == len(table) == (5 + n_pv) * spec.steps
    with open_store(tmp_path / "s.duckdb") as store:
        result, report = write_store(base, plan, spec, site, store, chunk=3)
        assert report.inserted == result.readings == out.readings
        _, again = write_store(base, plan, spec, site, store, chunk=5)
        assert again.unchanged == out.readings and again.inserted == 0
        stored = store.read_readings(["t0002-load"])
    mine = table[table["meter_id"] == "t0002-load"].sort_values("ts")
    np.testing.assert_allclose(stored["value"], mine["value"])
    assert stored["ts"].iloc[0] == pd.Timestamp("2024-12-31 15:00", tz="UTC")


def test_cli_writes_a_park(tmp_path: Path) -> None:
    # A second command module keeps `synth` a sub-command of the app.
    import bitgaram.cli.store
    import bitgaram.cli.synth  # noqa: F401  (registers the command)
    from bitgaram.cli import app

    out = tmp_path / "park"
    args = ["synth", "--tenants", "3", "--days", "2", "--out", str(out)]
    args += ["--profiles", str(ROOT / "data" / "citylearn_2022_phase_1")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(load_site(out / "site.toml").tenants) == 3
    assert pq.read_metadata(out / "readings.parquet").num_rows >= 3 * 192
    both = CliRunner().invoke(app, ["synth", "--out", str(out), "--store", "x.duckdb"])
    assert both.exit_code != 0
