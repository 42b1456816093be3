"""Recommended actions: which flexible assets can cut how many kW before the window closes.

For an alert, every flexible asset offers a **cut** [kW] it can hold for the rest of the window
and a **cost** per kWh moved [KRW/kWh]; the recommendation lists them cheapest first and marks the
cheapest set that covers the need.

- **EV charging** can slow down to the rate that still meets the departure energy (the energy
  is moved later within the stay, nothing is lost): cost 0 by default.
- **Battery**: stop charging, then discharge up to its power, as long as the energy above its
  minimum state of charge lasts until the window closes; cost: wear plus the energy lost in the
  round trip (given by the caller).
- **Deferrable loads** (jobs not at zero laxity): pausing a job cuts its whole power; ordered by
  priority (low priority deferred first), each with its deferral cost.

A cut of ``c`` kW held for the last ``r`` seconds of a ``W``-second window lowers the window's
average by ``c * r / W``; :func:`needed_cut_kw` turns an excess of the average into the cut
needed now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: Default cost of deferring a job [KRW/kWh]: above battery wear and losses (a few KRW/kWh),
#: below the demand charge of a 15-min peak (thousands of KRW per kW), so jobs go last but go.
DEFAULT_DEFER_COST = 50.0


@dataclass(frozen=True)
class BatteryFlex:
    """A battery's room to cut import.

    Attributes
    ----------
    id : str
        Asset id.
    power_kw : float
        Discharge power limit [kW].
    setpoint_kw : float
        Current setpoint [kW], + charge, - discharge.
    available_kwh : float
        Energy it can still deliver above its minimum state of charge [kWh].
    cost_per_kwh : float
        Wear and round-trip losses per kWh discharged [KRW/kWh].
    """

    id: str
    power_kw: float
    setpoint_kw: float
    available_kwh: float
    cost_per_kwh: float = 5.0


@dataclass(frozen=True)
class EVFlex:
    """A charging vehicle's room to slow down.

    Attributes
    ----------
    id : str
        Vehicle (session) id.
    setpoint_kw : float
        Current charging power [kW].
    min_kw : float
        Lowest power that still meets its departure energy [kW].
    cost_per_kwh : float
        Cost of moving a kWh later [KRW/kWh].
    """

    id: str
    setpoint_kw: float
    min_kw: float
    cost_per_kwh: float = 0.0


@dataclass(frozen=True)
class LoadFlex:
    """A running deferrable load that may pause.

    Attributes
    ----------
    id : str
        Job id.
    power_kw : float
        Its power now [kW].
    priority : int
        Lower is deferred first.
    cost_per_kwh : float
        Cost of deferring a kWh [KRW/kWh].
    """

    id: str
    power_kw: float
    priority: int = 0
    cost_per_kwh: float = DEFAULT_DEFER_COST


@dataclass(frozen=True)
class Flexibility:
    """Everything that can cut import now."""

    batteries: tuple[BatteryFlex, ...] = ()
    evs: tuple[EVFlex, ...] = ()
    loads: tuple[LoadFlex, ...] = ()


@dataclass(frozen=True)
class Action:
    """One recommended action.

    Attributes
    ----------
    asset : str
        Asset, vehicle or job id.
    kind : str
        ``battery_discharge``, ``ev_slow`` or ``defer_load``.
    cut_kw : float
        Import it can cut for the rest of the window [kW].
    cost_per_kwh : float
        Its cost [KRW/kWh].
    setpoint_kw : float
        The setpoint that achieves the cut [kW] (+ charge / consumption).
    selected : bool
        Whether it is in the cheapest set covering the need (the last one maybe in part,
        then ``cut_kw`` is the part used).
    """

    asset: str
    kind: str
    cut_kw: float
    cost_per_kwh: float
    setpoint_kw: float
    selected: bool = field(default=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def needed_cut_kw(excess_avg_kw: float, remaining_s: float, window_s: float = 900.0) -> float:
    """Cut to hold for the rest of the window to lower its average by ``excess_avg_kw`` [kW].

    Examples
    --------
    >>> needed_cut_kw(100.0, 450.0)  # half the window left: twice the excess
    200.0
    """
    if excess_avg_kw <= 0:
        return 0.0
    return excess_avg_kw * window_s / max(remaining_s, 1.0)


def candidate_actions(flex: Flexibility, remaining_s: float) -> list[Action]:
    """Every cut available now, cheapest first (ties: larger cut first)."""
    hours = max(remaining_s, 1.0) / 3600.0
    out: list[Action] = []
    for ev in flex.evs:
        cut = max(ev.setpoint_kw - max(ev.min_kw, 0.0), 0.0)
        if cut > 0:
            out.append(Action(ev.id, "ev_slow", cut, ev.cost_per_kwh, ev.setpoint_kw - cut))
    for b in flex.batteries:
        discharge = min(b.power_kw, max(b.available_kwh, 0.0) / hours)
        cut = max(b.setpoint_kw + discharge, 0.0)
        if cut > 0:
            out.append(Action(b.id, "battery_discharge", cut, b.cost_per_kwh, b.setpoint_kw - cut))
    for load in sorted(flex.loads, key=lambda x: x.priority):
        if load.power_kw > 0:
            out.append(Action(load.id, "defer_load", load.power_kw, load.cost_per_kwh, 0.0))
    order = {id(a): i for i, a in enumerate(out)}
    return sorted(
        out, key=lambda a: (a.cost_per_kwh, order[id(a)] if a.kind == "defer_load" else -a.cut_kw)
    )


def recommend_actions(flex: Flexibility, needed_kw: float, remaining_s: float) -> list[Action]:
    """Candidate actions cheapest first, the cheapest set covering ``needed_kw`` selected.

    Parameters
    ----------
    flex : Flexibility
        What can cut now.
    needed_kw : float
        Cut needed for the rest of the window [kW] (:func:`needed_cut_kw`).
    remaining_s : float
        Time left in the window [s].

    Returns
    -------
    list of Action
        All candidates; the selected ones first in cost order, the last selected one cut only
        as much as still needed (deferring a load is all or nothing).

    Examples
    --------
    >>> flex = Flexibility(batteries=(BatteryFlex("ess", 500.0, 0.0, 400.0),),
    ...                    evs=(EVFlex("van1", 11.0, 4.0),))
    >>> [(a.asset, a.cut_kw, a.selected) for a in recommend_actions(flex, 100.0, 600.0)]
    [('van1', 7.0, True), ('ess', 93.0, True)]
    """
    left = max(needed_kw, 0.0)
    out: list[Action] = []
    for a in candidate_actions(flex, remaining_s):
        if left <= 1e-9:
            out.append(a)
            continue
        used = a.cut_kw if a.kind == "defer_load" or a.cut_kw <= left else left
        out.append(
            replace(a, cut_kw=used, setpoint_kw=a.setpoint_kw + a.cut_kw - used, selected=True)
        )
        left -= used
    return out


def total_cut_kw(actions: Sequence[Action]) -> float:
    """Cut of the selected actions [kW]."""
    return float(sum(a.cut_kw for a in actions if a.selected))
