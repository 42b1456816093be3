"""On a sample-park building: an injected -10 % step is recovered, an injected anomaly found."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bitgaram.verify.inputs import MeterData, from_citylearn
from bitgaram.verify.pipeline import Period, verify_meter
from bitgaram.verify.testing import inject_excess, inject_step

PARK_DIR = Path(__file__).resolve().parents[2] / "data" / "citylearn_2022_phase_1"


@pytest.fixture(scope="module")
def park() -> MeterData:
    return from_citylearn(PARK_DIR)


def test_step_recovered_and_anomaly_found(park: MeterData) -> None:
    meter = "Building_1"
    original = park.energy_kwh[meter]
    baseline = Period.parse("2022-08-01", "2022-10-31")
    reporting = Period.parse("2022-11-01", "2022-11-30")
    stepped = inject_step(original, reporting.start, 0.10)
    mean_kwh = float(baseline.slice(original.to_frame()).mean().iloc[0])
    injected = inject_excess(stepped, "2022-11-16 01:00", 8, 2 * mean_kwh)
    assert park.temperature_c is not None and park.price is not None
    result = verify_meter(
        injected.energy_kwh,
        park.temperature_c,
        baseline,
        reporting,
        park.price,
        meter,
        holidays=park.holidays,
    )
    assert result.selection.chosen.accepted
    s = result.savings
    assert s is not None
    truth = injected.true_avoided_kwh(reporting.start, reporting.end)
    assert truth == pytest.approx(0.1 * original["2022-11"].sum() - 16 * mean_kwh)
    assert s.contains(truth), (s.avoided_kwh, s.uncertainty_kwh, truth)
    assert s.avoided_kwh > 0
    # The anomaly is found, with its time range, and ranked among the costliest three.
    hits = [
        (rank, a)
        for rank, a in enumerate(result.anomalies, 1)
        if a.kind != "drift" and a.start < injected.anomaly_end and a.end > injected.anomaly_start
    ]
    assert hits
    rank, hit = hits[0]
    assert rank <= 3
    assert hit.start == pd.Timestamp("2022-11-16 01:00")
    assert hit.excess_kwh == pytest.approx(injected.excess_kwh, rel=0.35)
