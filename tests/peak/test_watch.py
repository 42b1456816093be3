"""Peak watch: windows, projection, month peak, alerts with hysteresis."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitgaram.errors import ConfigError
from bitgaram.peak import AlertTracker, PeakWatch, metering_points
from bitgaram.peak.window import MeterWindow, add_reading, project_window
from bitgaram.site import Site, parse_site

T0 = pd.Timestamp("2026-08-04 05:00", tz="UTC")  # 14:00 in Seoul


def _site() -> Site:
    return parse_site(
        {
            "site": {"id": "p", "name": "P", "timezone": "Asia/Seoul"},
            "tenants": [{"id": "a", "name": "A"}],
            "meters": [
                {
                    "id": "a-load",
                    "tenant": "a",
                    "kind": "load",
                    "unit": "kWh",
                    "resolution": "5min",
                },
                {"id": "pv", "kind": "pv", "unit": "kW", "resolution": "5min"},
            ],
        }
    )


def test_points_subtract_generation_and_prefer_a_grid_meter() -> None:
    site = _site()
    points = {p.id: p.meters for p in metering_points(site)}
    assert points == {"park": (("a-load", 1.0), ("pv", -1.0)), "a": (("a-load", 1.0),)}


@given(
    st.lists(st.floats(0, 500), min_size=1, max_size=3),
    st.floats(0, 500),
)
def test_projection_is_exact_once_the_window_is_covered(kwh: list[float], extra: float) -> None:
    """Readings covering the whole window give their average, whatever the current rate."""
    w = MeterWindow(T0, rate_kw=extra)
    step = 900 / len(kwh)
    for i, e in enumerate(kwh):
        w = add_reading(w, T0 + pd.Timedelta(seconds=i * step), step, e)
    assert project_window([(1.0, w)], 900).projected_kw == pytest.approx(sum(kwh) * 4)


def test_projection_extends_the_current_rate() -> None:
    w = add_reading(MeterWindow(T0), T0, 300, 50.0)  # 600 kW for 5 min
    w = add_reading(w, T0 + pd.Timedelta(minutes=5), 300, 75.0)  # then 900 kW
    assert project_window([(1.0, w)], 900).projected_kw == pytest.approx((50 + 75 + 75) * 4)


def test_watch_alerts_before_the_window_closes_and_tracks_the_month_peak() -> None:
    site = _site()
    watch = PeakWatch(site, targets={"park": 1000.0})
    alerts = []
    for i, kw in enumerate([800, 800, 800, 800, 1200, 1200]):
        ts = T0 + pd.Timedelta(minutes=5 * i)
        alerts += watch.observe("a-load", ts, kw / 12)
        alerts += watch.observe("pv", ts, 0.0)
    raised = [a for a in alerts if a.event == "raised" and a.point == "park"]
    assert [a.level for a in raised] == [0.9, 1.0]
    # 800, then 1200 kW from minute 20: the 100 % alert fires at minute 25, before 05:30.
    assert raised[-1].window_start == T0 + pd.Timedelta(minutes=15)
    assert raised[-1].at < raised[-1].window_start + pd.Timedelta(minutes=15)
    watch.evaluate(T0 + pd.Timedelta(minutes=30))
    status = watch.status("park")
    assert status.month_peak_kw == pytest.approx((800 + 1200 + 1200) / 3)
    assert watch.closed_windows("park")[0][1] == pytest.approx(800)


def test_late_readings_of_a_closed_window_are_counted_not_reopened() -> None:
    site = _site()
    watch = PeakWatch(site, targets={"park": 1000.0})
    watch.observe("a-load", T0 + pd.Timedelta(minutes=15), 10.0)
    watch.observe("a-load", T0, 10.0)
    assert watch.late_readings == 1


def test_hysteresis_needs_the_band_to_clear() -> None:
    t = AlertTracker((0.9, 1.0), 0.05)
    assert t.update(1010, 1000) == [(0.9, "raised"), (1.0, "raised")]
    assert t.update(960, 1000) == []  # inside the band of the 100 % level
    assert t.update(940, 1000) == [(1.0, "cleared")]
    assert t.update(800, 1000) == [(0.9, "cleared")]
    assert t.update(800, 0) == []


def test_tracker_refuses_bad_levels() -> None:
    with pytest.raises(ConfigError):
        AlertTracker((1.0, 0.9))
    with pytest.raises(ConfigError):
        AlertTracker((0.9,), 0.95)


def test_light_load_windows_neither_alert_nor_set_the_month_peak() -> None:
    from bitgaram.peak.watch import metered_by
    from bitgaram.tariff import TouTariff, load_tariff

    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    watch = PeakWatch(_site(), targets={"park": 1000.0}, metered=metered_by(tariff, "Asia/Seoul"))
    assert watch.status("park").metered  # before any reading: no tariff lookup at the epoch
    night = pd.Timestamp("2026-08-04 16:00", tz="UTC")  # 01:00 in Seoul: light load
    alerts = watch.observe("a-load", night, 2000 / 12)
    watch.evaluate(night + pd.Timedelta(minutes=15))
    assert alerts == []
    assert watch.status("park").month_peak_kw == 0.0
    assert watch.closed_windows("park")[0][1] == pytest.approx(2000.0)
