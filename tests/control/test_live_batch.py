"""The live loop's cheap per-reading path agrees with the per-reading code it replaced.

Three controllers get the same day of a park (tenant and grid meters, late and repeated
readings, a meter the site lacks, meter clocks ahead of the reception time) and tick every
15 minutes with the TOU rule planner: the code of before issue 20 (``legacy_loop``), the new
code fed one reading at a time, and the new code fed a message at a time. Everything they
publish, journal and keep must be equal.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from legacy_loop import LegacyControlLoop, LegacyLiveController
from park_fixtures import TARGET_KW, park_readings, park_site

from bitgaram.collect.payload import decode_payload
from bitgaram.control.journal import MemoryJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.mqtt_link import MqttLink
from bitgaram.control.rule import TouRulePlanner
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.control.state import ParkSnapshot
from bitgaram.errors import ConfigError
from bitgaram.peak import PeakWatch
from bitgaram.peak.clock import from_ns, to_ns
from bitgaram.peak.watch import metered_by
from bitgaram.tariff import TouTariff, load_tariff

DAY = "2026-08-04"


def _tariff() -> TouTariff:
    t = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(t, TouTariff)
    return t


def _controller(kind: str) -> tuple[LiveController, list[tuple[str, str]]]:
    site = park_site("batch")
    published: list[tuple[str, str]] = []
    loop_cls = LegacyControlLoop if kind == "legacy" else ControlLoop
    loop = loop_cls(
        PeakWatch(site, targets={"park": TARGET_KW}, metered=metered_by(_tariff(), "Asia/Seoul")),
        TouRulePlanner(site, _tariff()),
        lambda topic, payload: published.append((topic, payload)),
        MemoryJournal(),
        ("ess",),
        200.0,
        LoopConfig(limit_kw=700.0),
    )
    ctl = (LegacyLiveController if kind == "legacy" else LiveController)(loop)
    ctl.on_state("ess", {"soc_kwh": 300.0})
    return ctl, published


def _messages(seed: int = 3) -> list[tuple[pd.Timestamp, str, list[tuple[pd.Timestamp, float]]]]:
    """(received, meter, readings) in arrival order: a day of 5-min readings, 3 a message.

    The park's grid meter reads the tenants' sum; extra: repeats of old readings (late), a
    meter the site does not have, readings whose interval ends after their reception.
    """
    rng = np.random.default_rng(seed)
    frame = park_readings(DAY)
    wide = frame.pivot(index="ts", columns="meter_id", values="value")
    wide["park-grid"] = wide["a-load"] + wide["b-load"]
    out = []
    for meter in ("a-load", "b-load", "park-grid", "ghost"):
        series = wide["park-grid" if meter == "ghost" else meter]
        for k in range(0, len(series), 3):
            chunk = series.iloc[k : k + 3]
            rows = [(ts, float(v)) for ts, v in chunk.items()]
            if k >= 12 and rng.random() < 0.3:  # a late copy of an earlier reading
                old = series.index[k - 12]
                rows.insert(int(rng.integers(0, len(rows) + 1)), (old, float(series[old])))
            end = chunk.index[-1] + pd.Timedelta(minutes=5)
            early = rng.random() < 0.2  # a meter clock ahead: received before its interval end
            delay = pd.Timedelta(seconds=-90 if early else float(rng.uniform(1, 60)))
            out.append((end + delay, meter, rows))
    out.sort(key=lambda m: (m[0], m[1]))
    return out


def _run(kind: str) -> tuple[LiveController, list[tuple[str, str]]]:
    ctl, published = _controller(kind)
    ticks = pd.date_range(pd.Timestamp(DAY, tz="Asia/Seoul"), periods=96, freq="15min")
    messages = _messages()
    i = 0
    for tick in ticks.tz_convert("UTC"):
        while i < len(messages) and messages[i][0] < tick:
            received, meter, rows = messages[i]
            if kind == "batched":
                batch = [(to_ns(ts), v) for ts, v in rows]
                ctl.on_readings(meter, batch, to_ns(received))
            else:
                for ts, v in rows:
                    ctl.on_reading(meter, ts, v, received)
            i += 1
        ctl.tick(tick)
    return ctl, published


def _state(ctl: LiveController) -> dict[str, Any]:
    watch = ctl.loop.watch
    journal = ctl.loop.journal
    assert isinstance(journal, MemoryJournal)
    return {
        "status": {p.id: watch.status(p.id) for p in watch.points},
        "closed": {p.id: watch.closed_windows(p.id) for p in watch.points},
        "late": watch.late_readings,
        "data_time": ctl.data_time,
        "setpoints": dict(ctl.loop.setpoints),
        "stats": ctl.loop.stats,
        "alerts": journal.alerts,
        "journal_setpoints": journal.setpoints,
    }


def test_per_reading_and_batched_paths_agree_with_the_code_they_replace() -> None:
    runs = {kind: _run(kind) for kind in ("legacy", "per_reading", "batched")}
    legacy_ctl, legacy_published = runs["legacy"]
    stats = legacy_ctl.loop.stats
    # the day exercises what was rewritten: peak alerts, peak actions, late readings
    assert stats.actions > 0 and stats.alerts > 0 and legacy_ctl.loop.watch.late_readings > 0
    for kind in ("per_reading", "batched"):
        ctl, published = runs[kind]
        assert published == legacy_published, kind
        assert _state(ctl) == _state(legacy_ctl), kind


def test_a_reading_of_an_unknown_meter_changes_no_state() -> None:
    legacy, _ = _controller("legacy")
    new, _ = _controller("batched")
    t0 = pd.Timestamp("2026-08-04 05:00", tz="UTC")
    for ctl in (legacy, new):
        ctl.on_reading("park-grid", t0, 40.0, t0 + pd.Timedelta(minutes=5))
    before = _state(new)
    new.on_readings("ghost", [(to_ns(t0 + pd.Timedelta(minutes=5)), 9e9)], to_ns(t0))
    legacy.on_reading("ghost", t0 + pd.Timedelta(minutes=5), 9e9, t0)
    assert _state(new) == before == _state(legacy)
    assert new.data_time == t0 + pd.Timedelta(minutes=5)  # a ghost's reading is no freshness


class _Msg:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload = topic, payload


PAYLOADS = [
    b'[{"timestamp": 1785733200, "value": 10, "unit": "kWh"},'
    b' {"timestamp": 1785733500.0, "value": 11.5, "unit": "kWh", "quality": 1}]',
    b'{"timestamp": "2026-08-04T14:10:00+09:00", "value": 12, "unit": "kWh"}',
    b'[{"timestamp": "2026-08-04T05:15:00.25Z", "value": 1, "unit": "kWh"}, 7,'
    b' {"timestamp": true, "value": 1, "unit": "kWh"}, {"meter": "other", "timestamp": 0,'
    b' "value": 1, "unit": "kWh"}, {"timestamp": 1785734400.5, "value": 2, "unit": "kWh"}]',
    b'[{"timestamp": 1785734700, "value": 1, "unit": "kWh"},'
    b' {"timestamp": "2026-08-04T14:30:00", "value": 1, "unit": "kWh"},'
    b' {"timestamp": 1785735000, "value": 1, "unit": "kWh"}, {"value": 1}]',
    b"not json",
    b"[]",
    b'[{"timestamp": 253402300799, "value": 1e308, "unit": "kWh"}]',
]


def _as_before(payload: bytes, meter: str) -> tuple[list[tuple[pd.Timestamp, float]], int]:
    """What the link handed over and refused before issue 20 (a Timestamp per reading)."""
    rows, rejects = decode_payload(payload, meter)
    out, refused = [], len(rejects)
    try:
        for r in rows:
            ts = (
                pd.Timestamp(r.timestamp, unit="s", tz="UTC")
                if isinstance(r.timestamp, int | float)
                else pd.Timestamp(r.timestamp).tz_convert("UTC")
            )
            out.append((ts, float(r.value)))
    except Exception:  # the rest of the message was dropped, the message counted once
        refused += 1
    return out, refused


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_link_hands_over_what_it_did_reading_by_reading(payload: bytes) -> None:
    """Batched and per-reading delivery: the readings, instants and refusals of before."""
    one: list[tuple[pd.Timestamp, float]] = []
    many: list[tuple[pd.Timestamp, float]] = []
    per = MqttLink("127.0.0.1", 1, "s", lambda m, ts, v, now: one.append((ts, v)))
    batched = MqttLink(
        "127.0.0.1",
        1,
        "s",
        on_readings=lambda m, rows, now: many.extend((from_ns(t), v) for t, v in rows),
    )
    for link in (per, batched):
        msg = _Msg("bitgaram/s/park-grid/reading", payload)
        link._on_message(link._client, None, msg)  # type: ignore[arg-type]
    expected, refused = _as_before(payload, "park-grid")
    assert one == many == expected
    assert per.rejected == batched.rejected == refused


def test_the_link_needs_somewhere_to_hand_readings() -> None:
    with pytest.raises(ConfigError):
        MqttLink("127.0.0.1", 1, "s")


class _SlowPlanner:
    """Plans one battery setpoint, but only once the test lets it."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go = threading.Event()
        self.peak_cap_kw: float | None = None

    def plan(
        self, snapshot: ParkSnapshot, month_peak_kw: float, target_kw: float
    ) -> list[Setpoint]:
        self.started.set()
        assert self.go.wait(10), "the test never let the planner finish"
        end = snapshot.at + pd.Timedelta(minutes=15)
        return [Setpoint("ess", "battery", 50.0, snapshot.at, end, Mode.MPC, "slow plan")]


def test_readings_are_taken_while_the_planner_solves() -> None:
    site = park_site("slow")
    planner = _SlowPlanner()
    published: list[tuple[str, str]] = []
    loop = ControlLoop(
        PeakWatch(site, targets={"park": TARGET_KW}),
        planner,
        lambda t, p: published.append((t, p)),
        MemoryJournal(),
        ("ess",),
        200.0,
    )
    ctl = LiveController(loop)
    ctl.on_state("ess", {"soc_kwh": 300.0})
    t0 = pd.Timestamp("2026-08-04 05:00", tz="UTC")
    ctl.on_reading("park-grid", t0 - pd.Timedelta(minutes=5), 40.0, t0)
    ticking = threading.Thread(target=ctl.tick, args=(t0,))
    ticking.start()
    try:
        assert planner.started.wait(10)
        # a reading that takes the window past the target arrives mid-solve: it is taken at
        # once (the watch sees it, its alert is out) though the planner is still blocked
        taken = threading.Event()
        reader = threading.Thread(
            target=lambda: (
                ctl.on_readings(
                    "park-grid", [(to_ns(t0), 900 * 5 / 60)], to_ns(t0 + pd.Timedelta(minutes=5))
                ),
                taken.set(),
            )
        )
        reader.start()
        assert taken.wait(5), "a reading waited for the solve"
        assert ticking.is_alive() and not planner.go.is_set()
        assert loop.watch.status("park").window.energy_kwh == 75.0
        assert any('"raised"' in p for t, p in published if t.endswith("/alerts"))
        # its peak action waits for the plan: no setpoint yet, the old plan is still in force
        assert not any(t.endswith("/setpoint") for t, _ in published)
    finally:
        planner.go.set()
        ticking.join(10)
    setpoints = [p for t, p in published if t.endswith("/ess/setpoint")]
    # the plan first (50 kW charging), then the peak action sized against it
    assert len(setpoints) == 2 and '"slow plan"' in setpoints[0] and '"peak"' in setpoints[1]
    assert loop.setpoints["ess"].mode == "peak" and loop.setpoints["ess"].power_kw < 50.0
    assert loop.stats.plans == 1 and loop.stats.actions == 1
