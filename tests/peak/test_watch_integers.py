"""The watch on integer instants agrees with the Timestamp watch it replaced, DST days included.

``legacy_watch`` is the watch of before issue 20, unchanged; both get the same readings and
clock and must return the same alerts and keep the same windows, month peaks and counts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from legacy_watch import LegacyPeakWatch

from bitgaram.errors import DataError
from bitgaram.peak import PeakWatch
from bitgaram.peak.clock import NS, from_ns, month_key, to_ns
from bitgaram.peak.watch import metered_by
from bitgaram.site import Site, parse_site
from bitgaram.tariff import TouTariff, load_tariff

LA, SEOUL = "America/Los_Angeles", "Asia/Seoul"

#: Instants the generated readings gather around: LA's spring-forward (10:00 UTC) and
#: fall-back (09:00 UTC) days, the latter also the first of a month there (07:00 UTC), and
#: Seoul's month end (1 September 00:00 local = 15:00 UTC).
BASES = {
    LA: ("2026-03-08 10:00", "2026-11-01 08:00", "2026-11-01 07:00"),
    SEOUL: ("2026-08-31 15:00", "2026-08-04 05:00"),
}
METERS = ("a-load", "b-load", "pv", "ghost")  # ghost: a meter the site lacks


def _site(tz: str) -> Site:
    return parse_site(
        {
            "site": {"id": "p", "name": "P", "timezone": tz},
            "tenants": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
            "meters": [
                {
                    "id": "a-load",
                    "tenant": "a",
                    "kind": "load",
                    "unit": "kWh",
                    "resolution": "5min",
                },
                {
                    "id": "b-load",
                    "tenant": "b",
                    "kind": "load",
                    "unit": "kWh",
                    "resolution": "15min",
                },
                {"id": "pv", "kind": "pv", "unit": "kW", "resolution": "5min"},
            ],
        }
    )


def _daytime(tz: str) -> Any:
    """Windows starting 08:00-21:59 local count; a lookup error at 03:xx counts (as before)."""

    def metered(start: pd.Timestamp) -> bool:
        hour = start.tz_convert(tz).hour
        if hour == 3:
            raise DataError("no tariff data")
        return 8 <= hour < 22

    return metered


def _pair(tz: str) -> tuple[PeakWatch, LegacyPeakWatch]:
    kw: dict[str, Any] = {
        "targets": {"park": 900.0},
        "carried_kw": {"a": 300.0},
        "metered": _daytime(tz),
    }
    return PeakWatch(_site(tz), **kw), LegacyPeakWatch(_site(tz), **kw)


def _same_state(new: PeakWatch, old: LegacyPeakWatch) -> None:
    assert new.late_readings == old.late_readings
    for p in new.points:
        assert new.status(p.id) == old.status(p.id)
        assert new.closed_windows(p.id) == old.closed_windows(p.id)
        assert new.glance(p.id).projected_kw == old.status(p.id).window.projected_kw


_OP = st.tuples(
    st.sampled_from(("reading", "reading", "reading", "clock")),
    st.sampled_from(METERS),
    st.integers(-3, 4),  # steps of 5 min from the previous reading: mostly forward, some late
    st.floats(0.0, 400.0),
    st.one_of(st.none(), st.integers(-400, 1200)),  # reception after the interval start [s]
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([(tz, b) for tz, bases in BASES.items() for b in bases]),
    st.lists(_OP, min_size=1, max_size=80),
)
def test_the_integer_watch_agrees_with_the_timestamp_watch(
    where: tuple[str, str], ops: list[tuple[str, str, int, float, int | None]]
) -> None:
    tz, base = where
    new, old = _pair(tz)
    t = pd.Timestamp(base, tz="UTC") - pd.Timedelta(hours=1)
    for kind, meter, step, value, after in ops:
        t = t + pd.Timedelta(minutes=5 * step)
        now = None if after is None else t + pd.Timedelta(seconds=after)
        if kind == "clock":
            clock = now if now is not None else t
            assert new.evaluate(clock) == old.evaluate(clock)
        else:
            assert new.observe(meter, t, value, now) == old.observe(meter, t, value, now)
            if meter != "ghost":  # the live loop's entry point, same answers
                twin, legacy = _pair(tz)
                del twin, legacy
    _same_state(new, old)


def _feed(watch: PeakWatch, start: str, hours: int, kwh: float = 50.0) -> None:
    """5-min ``a-load`` readings of ``kwh`` from ``start`` (UTC) for ``hours``."""
    t0 = pd.Timestamp(start, tz="UTC")
    for k in range(hours * 12):
        ts = t0 + pd.Timedelta(minutes=5 * k)
        watch.observe_ns("a-load", to_ns(ts), kwh, to_ns(ts) + 300 * NS)


@pytest.mark.parametrize(
    ("tz", "day", "windows"),
    [(LA, "2026-03-08", 92), (LA, "2026-11-01", 100), (SEOUL, "2026-03-08", 96)],
)
def test_a_local_day_has_its_clock_hours_of_windows(tz: str, day: str, windows: int) -> None:
    """23 h on LA's spring-forward day, 25 h on its fall-back day, 24 h in Seoul."""
    watch = PeakWatch(_site(tz))
    start = pd.Timestamp(day, tz=tz)
    end = start + pd.DateOffset(days=1)
    hours = int((end - start).total_seconds() // 3600)
    _feed(watch, str(start.tz_convert("UTC").tz_localize(None)), hours + 1)
    closed = [s for s, _ in watch.closed_windows("a") if start <= s < end]
    assert len(closed) == windows
    assert all(s.minute % 15 == 0 and s.second == 0 for s in closed)  # aligned in UTC
    assert {round(kw, 9) for s, kw in watch.closed_windows("a")} == {600.0}


@pytest.mark.parametrize(
    ("tz", "first_utc"),
    [(LA, "2026-11-01 07:00"), (SEOUL, "2026-08-31 15:00"), (LA, "2026-03-01 08:00")],
)
def test_the_month_peak_restarts_at_local_midnight(tz: str, first_utc: str) -> None:
    """A peak in the last window of a local month is not the next month's (DST day in LA)."""
    new, old = _pair(tz)
    new.metered = old.metered = None
    first = pd.Timestamp(first_utc, tz="UTC")
    last = first - pd.Timedelta(minutes=15)  # 23:45 local, the month before
    for w in (new, old):
        w.observe("a-load", last, 250.0)  # 3,000 kW for 5 minutes
        for k in range(12):  # the new month's first hour at 600 kW
            w.observe("a-load", first + pd.Timedelta(minutes=5 * k), 50.0)
        w.evaluate(first + pd.Timedelta(hours=1))
    assert new.status("a").month_peak_kw == pytest.approx(600.0)
    # the old month's window: 3,000 kW (the rate carried to its end)
    assert new.closed_windows("a")[0] == (last, 3000.0)
    _same_state(new, old)
    assert divmod(month_key(to_ns(last), tz), 12)[1] + 1 == last.tz_convert(tz).month
    assert divmod(month_key(to_ns(first), tz), 12)[1] + 1 == first.tz_convert(tz).month


def test_metered_is_asked_once_per_window_start() -> None:
    asked: list[pd.Timestamp] = []

    def metered(start: pd.Timestamp) -> bool:
        asked.append(start)
        return True

    watch = PeakWatch(_site(SEOUL), targets={"park": 900.0}, metered=metered)
    _feed(watch, "2026-08-04 05:00", 1)
    assert len(asked) == len(set(asked)) == 4  # four windows, whatever the readings


def test_unknown_meters_and_late_readings_change_nothing() -> None:
    watch = PeakWatch(_site(SEOUL), targets={"park": 900.0})
    t0 = to_ns(pd.Timestamp("2026-08-04 05:00", tz="UTC"))
    watch.observe_ns("a-load", t0 + 900 * NS, 50.0)
    before = {p.id: watch.status(p.id) for p in watch.points}
    assert watch.observe_ns("ghost", t0 + 1800 * NS, 1e9) == []
    assert watch.late_readings == 0  # ignored, not late
    assert watch.observe_ns("a-load", t0, 1e9) == []
    assert watch.late_readings == 1
    assert {p.id: watch.status(p.id) for p in watch.points} == before


def test_instants_beyond_the_nanosecond_range_stay_exact() -> None:
    far = pd.Timestamp(253402300799, unit="s", tz="UTC")  # 9999-12-31 23:59:59
    assert from_ns(to_ns(far)) == far
    assert to_ns(pd.Timestamp("2026-08-04T14:00:00.123456789+09:00")) % 1_000 == 789


@pytest.mark.parametrize(("tz", "day"), [(SEOUL, "2026-08-14"), (LA, "2026-10-31")])
def test_metered_by_asks_the_tariff_a_day_at_a_time_with_the_same_answers(
    tz: str, day: str
) -> None:
    """Over three days (a holiday in Seoul; LA's fall-back day), 15-min and 5-min starts."""
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    excluded = set(tariff.demand_rules.excluded_periods)
    metered = metered_by(tariff, tz)
    starts = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=3 * 288, freq="5min")
    answers = [metered(s) for s in starts]
    local = starts.tz_convert(tz).tz_localize(None)
    expected = [str(tariff.period([t])[0]) not in excluded for t in local]
    assert answers == expected
    assert 0 < sum(answers) < len(answers)  # both kinds of window occur
