"""``bitgaram demo`` on the shipped sample park, from an unrelated working directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from bitgaram.cli.demo import DEMO_STEPS, DemoContext, demo_step

Invoke = Callable[..., Result]


def test_demo_imports_summarises_and_writes_a_report(
    tmp_path: Path, invoke: Invoke, sample_park_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the sample is found relative to the package, not the CWD
    # Register the forecast and schedule steps, whatever other tests imported before.
    import bitgaram.cli.citylearn
    import bitgaram.cli.forecast  # noqa: F401

    result = invoke("demo", "--workdir", "report")
    assert result.exit_code == 0, result.output

    schema = json.loads((sample_park_dir / "schema.json").read_text())
    total_load = sum(
        pd.read_csv(sample_park_dir / b["energy_simulation"])["non_shiftable_load"].sum()
        for b in schema["buildings"].values()
    )
    out = result.output
    for name in schema["buildings"]:
        assert name in out
    assert f"{total_load:,.0f}" in out
    assert "self-sufficiency" in out and "America/Los_Angeles" in out
    png = tmp_path / "report" / "park.png"
    html = (tmp_path / "report" / "report.html").read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="park.png"' in html and f"{total_load:,.0f}" in html
    assert (tmp_path / "report" / "bitgaram.duckdb").is_file()
    # Forecast step: P10/P50/P90 of every load and PV meter stored, scored against actuals.
    assert "forecast issued" in out and "forecast rows stored" in out
    # Schedule step: the causal MPC beats doing nothing on the CityLearn score.
    kpis = json.loads((tmp_path / "report" / "schedule" / "kpis.json").read_text())
    assert kpis["controller"] == "mpc" and 0.0 < kpis["score"] < 1.0
    schedule_png = tmp_path / "report" / "schedule" / "schedule_week.png"
    assert schedule_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = invoke("demo", "--workdir", "report")
    assert again.exit_code == 0, again.output
    assert "0 new" in again.output and "140,160 unchanged" in again.output


def test_capabilities_add_demo_steps_in_order() -> None:
    seen: list[str] = []

    @demo_step("test step", order=15)
    def _step(ctx: DemoContext) -> None:
        seen.append(ctx.workdir.name)

    try:
        names = [s.name for s in DEMO_STEPS]
        assert names.index("test step") == names.index("import the sample park") + 1
        orders = [s.order for s in DEMO_STEPS]
        assert orders == sorted(orders)
    finally:
        DEMO_STEPS[:] = [s for s in DEMO_STEPS if s.name != "test step"]
    assert "test step" not in [s.name for s in DEMO_STEPS]
