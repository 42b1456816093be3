"""The live glue without a broker: state messages, freshness on the meter's clock."""

from __future__ import annotations

import pandas as pd
from park_fixtures import TARGET_KW, park_site

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop
from bitgaram.control.setpoints import Setpoint
from bitgaram.control.state import ParkSnapshot
from bitgaram.peak import PeakWatch

T0 = pd.Timestamp("2026-08-04 05:00", tz="UTC")


class Recorder:
    """A planner that keeps what it was given and plans nothing."""

    def __init__(self) -> None:
        self.snapshots: list[ParkSnapshot] = []

    def plan(
        self, snapshot: ParkSnapshot, month_peak_kw: float, target_kw: float
    ) -> list[Setpoint]:
        self.snapshots.append(snapshot)
        return []


def _controller() -> tuple[LiveController, Recorder]:
    site = park_site("live")
    planner = Recorder()
    loop = ControlLoop(
        PeakWatch(site, targets={"park": TARGET_KW}),
        planner,
        lambda t, p: None,
        MemoryJournal(),
        ("ess",),
        200.0,
    )
    return LiveController(loop), planner


def test_states_reach_the_planner_and_bad_ones_are_ignored() -> None:
    ctl, planner = _controller()
    ctl.on_state("ess", {"soc_kwh": 250.0})
    ctl.on_state(
        "depot",
        {
            "sessions": [
                {
                    "id": "van1",
                    "stored_kwh": 10,
                    "required_kwh": 40,
                    "capacity_kwh": 60,
                    "departure": "2026-08-04T10:00:00+00:00",
                    "charger_kw": 11,
                },
                {
                    "id": "gone",
                    "stored_kwh": 10,
                    "required_kwh": 40,
                    "capacity_kwh": 60,
                    "departure": "2026-08-04T04:00:00+00:00",
                    "charger_kw": 11,
                },
            ]
        },
    )
    ctl.on_state(
        "line",
        {
            "jobs": [
                {
                    "id": "kiln",
                    "power_kw": 100,
                    "remaining_steps": 4,
                    "earliest": "2026-08-04T05:00:00+00:00",
                    "deadline": "2026-08-04T09:00:00+00:00",
                },
            ]
        },
    )
    ctl.on_state("ess", {"soc_kwh": "full"})
    ctl.on_state("depot", {"sessions": [{"id": "x", "departure": "no date"}]})
    ctl.on_state("line", {"jobs": "kiln"})
    assert ctl.rejected == 3
    ctl.on_reading("park-grid", T0 - pd.Timedelta(minutes=5), 40.0, pd.Timestamp.now(tz="UTC"))
    ctl.tick(T0)
    snap = planner.snapshots[-1]
    assert snap.battery_soc_kwh == 250.0  # the bad message kept the previous state
    assert [v.id for v in snap.evs] == ["van1"]  # departed sessions are dropped
    assert [j.id for j in snap.jobs] == ["kiln"]
    assert snap.firm_kw == 480.0  # 40 kWh in 5 min, no setpoint in force
    assert snap.data_age_s() == 0.0  # freshness on the meter's clock: the reading's end


def test_decisions_use_the_meter_clock_for_time_left_in_the_window() -> None:
    ctl, _ = _controller()
    ctl.on_state("ess", {"soc_kwh": 300.0})
    ctl.on_reading("park-grid", T0 - pd.Timedelta(minutes=5), 40.0, T0)
    ctl.tick(T0)
    # A reading received long after its interval (a backlog): the action is still sized for
    # the 10 minutes left in its window, not refused as "window over".
    journal = ctl.loop.journal
    assert isinstance(journal, MemoryJournal)
    ctl.on_reading("park-grid", T0, 900 * 5 / 60, pd.Timestamp.now(tz="UTC"))
    alerts = [a for a in journal.alerts if a.kind == "peak"]
    assert alerts and alerts[0].event == "raised"
    assert ctl.loop.setpoints["ess"].mode == "peak"
    assert alerts[0].at == T0 + pd.Timedelta(minutes=5)
