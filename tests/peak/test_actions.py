"""Recommended actions: cheapest first, covering the need, within each asset's room."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitgaram.peak.actions import (
    BatteryFlex,
    EVFlex,
    Flexibility,
    LoadFlex,
    needed_cut_kw,
    recommend_actions,
    total_cut_kw,
)


def test_order_is_by_cost_and_loads_by_priority() -> None:
    flex = Flexibility(
        batteries=(BatteryFlex("ess", 200.0, 50.0, 1000.0, 5.0),),
        evs=(EVFlex("van", 11.0, 3.0),),
        loads=(LoadFlex("kiln", 100.0, 2), LoadFlex("pump", 40.0, 1)),
    )
    acts = recommend_actions(flex, 1000.0, 600.0)
    assert [a.asset for a in acts] == ["van", "ess", "pump", "kiln"]
    assert acts[1].cut_kw == pytest.approx(250.0)  # stop charging 50 + discharge 200
    assert acts[1].setpoint_kw == pytest.approx(-200.0)


def test_battery_cut_is_limited_by_its_energy_until_the_window_ends() -> None:
    flex = Flexibility(batteries=(BatteryFlex("ess", 500.0, 0.0, 10.0),))
    (a,) = recommend_actions(flex, 1000.0, 300.0)  # 10 kWh over 5 min: 120 kW
    assert a.cut_kw == pytest.approx(120.0)


@given(
    st.floats(0, 2000),
    st.floats(60, 900),
    st.lists(st.tuples(st.floats(0, 22), st.floats(0, 22)), max_size=5),
)
def test_selected_cut_covers_the_need_when_possible(
    needed: float, remaining: float, evs: list[tuple[float, float]]
) -> None:
    flex = Flexibility(
        batteries=(BatteryFlex("ess", 300.0, 0.0, 200.0),),
        evs=tuple(EVFlex(f"v{i}", a, b) for i, (a, b) in enumerate(evs)),
    )
    acts = recommend_actions(flex, needed, remaining)
    room = sum(a.cut_kw for a in recommend_actions(flex, 1e9, remaining))
    assert total_cut_kw(acts) == pytest.approx(min(needed, room), abs=1e-6)
    for a in acts:
        if a.kind == "ev_slow":
            ev = next(e for e in flex.evs if e.id == a.asset)
            assert a.setpoint_kw >= max(ev.min_kw, 0.0) - 1e-9


def test_needed_cut_scales_with_the_time_left() -> None:
    assert needed_cut_kw(50.0, 300.0, 900.0) == pytest.approx(150.0)
    assert needed_cut_kw(-5.0, 300.0) == 0.0
