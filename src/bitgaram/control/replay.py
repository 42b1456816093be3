"""Replay: drive the control loop from stored history at accelerated speed.

The firm load (tenant loads minus PV, as the meters measured it) is read from the store at the
meters' resolution (e.g. 5 min). Each reading step the replay applies the setpoints in force to
the assets' physics (ESS through :func:`bitgaram.assets.battery.step`, vehicles and jobs as
below), computes the park-connection import, and hands it to the loop as a reading of the
site's grid meter, exactly as the collector would live; at each interval start it hands the loop
a snapshot and lets it plan. Without a loop (``loop=None``) it gives the uncontrolled reference:
ESS idle, vehicles charging at full power from arrival, jobs run as early as allowed.

Safety nets that hold under any setpoint (as in :mod:`bitgaram.simulate.park`): a vehicle
charges at least the even rate that still meets its departure energy once it has no laxity, and
a job runs when it has no laxity left.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bitgaram.assets.battery import BatteryState, initial_state
from bitgaram.assets.battery import step as battery_step
from bitgaram.control.loop import ControlLoop
from bitgaram.control.planner import site_battery
from bitgaram.control.setpoints import Setpoint
from bitgaram.control.state import EVSession, JobItem, ParkSnapshot
from bitgaram.errors import DataError
from bitgaram.peak.points import PARK_POINT, metering_points
from bitgaram.site.model import MeterKind, Site, Unit
from bitgaram.store.base import Store


@dataclass(frozen=True)
class ReplayVehicle:
    """An EV session of the replay (times UTC)."""

    id: str
    arrival: pd.Timestamp
    departure: pd.Timestamp
    arrival_kwh: float
    required_kwh: float
    capacity_kwh: float
    charger_kw: float
    efficiency: float = 0.95


@dataclass(frozen=True)
class ReplayJob:
    """A deferrable job of the replay (times UTC)."""

    id: str
    power_kw: float
    steps: int
    earliest: pd.Timestamp
    deadline: pd.Timestamp
    interruptible: bool = True
    priority: int = 0


@dataclass(frozen=True)
class ReplayResult:
    """What happened in a replay.

    Attributes
    ----------
    import_kw : pandas.Series
        Park import per reading step [kW].
    windows_kw : pandas.Series
        Park import averaged over each demand window [kW].
    peak_kw : float
        Largest window [kW].
    metered_peak_kw : float
        Largest window counting for the demand charge [kW] (``peak_kw`` without ``metered``).
    ev_shortfall_kwh : float
        Energy missing at departure over all vehicles [kWh].
    jobs_unfinished : int
        Jobs not finished by the end of the replay or their deadline.
    wall_s : float
        Wall-clock time of the replay [s].
    """

    import_kw: pd.Series
    windows_kw: pd.Series
    peak_kw: float
    metered_peak_kw: float
    ev_shortfall_kwh: float
    jobs_unfinished: int
    wall_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def grid_meter(site: Site) -> str:
    """The site-level grid-import meter the replay writes the park import to.

    Raises
    ------
    DataError
        If the site has none.
    """
    for m in site.meters:
        if m.tenant is None and m.kind in (MeterKind.GRID_IMPORT, MeterKind.GRID_NET):
            return m.id
    raise DataError(f"site {site.site.id!r}: replay needs a site-level grid_import meter")


def firm_from_store(
    store: Store, site: Site, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.Series, pd.DataFrame]:
    """The park's firm net load [kW] and each tenant meter's readings, from the store.

    The firm load is the sum of the load-like meters minus generation (the park metering point
    rebuilt without the grid meter), per reading step.

    Returns
    -------
    (pandas.Series, pandas.DataFrame)
        Firm load [kW] indexed by UTC step start; the raw readings (meter_id, ts, value) of
        the meters behind it.

    Raises
    ------
    DataError
        If the store has no readings of those meters in ``[start, end)``.
    """
    grid = grid_meter(site)
    rest = site.model_copy(update={"meters": tuple(m for m in site.meters if m.id != grid)})
    park = next(p for p in metering_points(rest) if p.id == PARK_POINT)
    ids = [m for m, _ in park.meters]
    raw = store.read_readings(ids, start, end)
    if raw.empty:
        raise DataError(f"store has no readings of {ids} between {start} and {end}")
    total: pd.Series | None = None
    for mid, sign in park.meters:
        meter = site.meter(mid)
        s = raw[raw["meter_id"] == mid].set_index("ts")["value"].astype(float)
        kw = s / (meter.resolution_seconds / 3600.0) if meter.unit is Unit.KWH else s
        total = sign * kw if total is None else total.add(sign * kw, fill_value=0.0)
    assert total is not None
    total.index = pd.DatetimeIndex(total.index).tz_convert("UTC")
    return total.sort_index(), raw


def _in_force(loop: ControlLoop, asset: str, t: pd.Timestamp) -> Setpoint | None:
    """The loop's setpoint for ``asset`` if still valid at ``t``."""
    sp = loop.setpoints.get(asset)
    return sp if sp is not None and sp.valid_until > t else None


@dataclass
class _Plant:
    """The park's flexible assets as the replay moves them, one reading step at a time.

    ``loop`` None: the uncontrolled reference (ESS idle, vehicles at full power, jobs as early
    as allowed).
    """

    site: Site
    vehicles: tuple[ReplayVehicle, ...]
    jobs: tuple[ReplayJob, ...]
    loop: ControlLoop | None
    step_s: float
    interval_s: float
    stored: dict[str, float] = field(init=False)
    done_s: dict[str, float] = field(init=False)
    started: dict[str, bool] = field(init=False)
    shortfall_kwh: float = 0.0

    def __post_init__(self) -> None:
        self.dt = self.step_s / 3600.0
        self.battery = site_battery(self.site, self.dt)
        self.bstate: BatteryState | None = (
            initial_state(self.battery[1]) if self.battery is not None else None
        )
        self.stored = {v.id: v.arrival_kwh for v in self.vehicles}
        self.done_s = {j.id: 0.0 for j in self.jobs}
        self.started = {j.id: False for j in self.jobs}

    def _job_left_s(self, j: ReplayJob) -> float:
        return j.steps * self.interval_s - self.done_s[j.id]

    def snapshot(
        self, t: pd.Timestamp, prev_kw: float, last_reading: pd.Timestamp | None
    ) -> ParkSnapshot:
        """What the loop sees at an interval start: sessions plugged in, jobs still due."""
        evs = tuple(
            EVSession(
                v.id, self.stored[v.id], v.required_kwh, v.capacity_kwh, v.departure,
                v.charger_kw, 0.0, v.efficiency,
            )
            for v in self.vehicles
            if v.arrival <= t < v.departure
        )  # fmt: skip
        items = tuple(
            JobItem(
                j.id, j.power_kw,
                math.ceil(self._job_left_s(j) / self.interval_s - 1e-9),
                j.earliest, j.deadline, j.interruptible, self.started[j.id], j.priority,
            )
            for j in self.jobs
            if self._job_left_s(j) > 0 and j.deadline > t
        )  # fmt: skip
        soc = None if self.bstate is None else float(self.bstate.soc_kwh.sum())
        return ParkSnapshot(t, prev_kw, last_reading, soc, evs, items)

    def battery_kw(self, t: pd.Timestamp) -> float:
        """The ESS's grid power this step [kW] (its setpoint through its physics)."""
        if self.battery is None or self.bstate is None or self.loop is None:
            return 0.0
        sp = _in_force(self.loop, self.battery[0], t)
        req = sp.power_kw if sp is not None else 0.0
        res = battery_step(self.battery[1], self.bstate, np.array([req * self.dt]))
        self.bstate = res.state
        return float(res.grid_energy_kwh.sum()) / self.dt

    def vehicles_kw(self, t: pd.Timestamp, end: pd.Timestamp) -> float:
        """The vehicles' charging power this step [kW]; books the shortfall of those leaving."""
        dt, total = self.dt, 0.0
        for v in self.vehicles:
            if not v.arrival <= t < v.departure:
                continue
            need = max(v.required_kwh - self.stored[v.id], 0.0) / v.efficiency
            left_h = (v.departure - t).total_seconds() / 3600.0
            if self.loop is None:
                kw = min(need / dt, v.charger_kw)
            else:
                sp = _in_force(self.loop, v.id, t)
                kw = sp.power_kw if sp is not None else v.charger_kw
                # No laxity left: the even rate is all that still meets departure.
                if need / v.charger_kw >= left_h - dt:
                    kw = max(kw, min(need / max(left_h, dt), v.charger_kw))
            room = (v.capacity_kwh - self.stored[v.id]) / v.efficiency / dt
            kw = float(np.clip(kw, 0.0, min(v.charger_kw, room)))
            self.stored[v.id] += kw * dt * v.efficiency
            total += kw
            if end >= v.departure:
                self.shortfall_kwh += max(v.required_kwh - self.stored[v.id], 0.0)
        return total

    def jobs_kw(self, t: pd.Timestamp) -> float:
        """The jobs' power this step [kW]: those the plan runs and those out of laxity."""
        total = 0.0
        for j in self.jobs:
            left_s = self._job_left_s(j)
            if not (j.earliest <= t < j.deadline and left_s > 0):
                continue
            must = (j.deadline - t).total_seconds() <= left_s + 1e-6 or (
                self.started[j.id] and not j.interruptible
            )
            if self.loop is None:
                run = True
            else:
                sp = _in_force(self.loop, j.id, t)
                run = sp is not None and sp.power_kw > 0
            if run or must:
                self.done_s[j.id] += self.step_s
                self.started[j.id] = True
                total += j.power_kw
        return total

    def jobs_unfinished(self) -> int:
        """Jobs with work left at the end."""
        return sum(1 for j in self.jobs if self._job_left_s(j) > 1e-6)


def _readings_by_ts(readings: pd.DataFrame) -> dict[pd.Timestamp, list[tuple[str, float]]]:
    by_ts: dict[pd.Timestamp, list[tuple[str, float]]] = {}
    cols = zip(
        readings["meter_id"].astype(str),
        pd.DatetimeIndex(readings["ts"]),
        readings["value"].to_numpy(dtype=float),
        strict=True,
    )
    for mid, ts, val in cols:
        by_ts.setdefault(pd.Timestamp(ts), []).append((mid, float(val)))
    return by_ts


def replay(
    site: Site,
    firm_kw: pd.Series,
    vehicles: tuple[ReplayVehicle, ...] = (),
    jobs: tuple[ReplayJob, ...] = (),
    loop: ControlLoop | None = None,
    tenant_readings: pd.DataFrame | None = None,
    on_step: Callable[[int], None] | None = None,
    meter_outage: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    metered: Callable[[pd.Timestamp], bool] | None = None,
) -> ReplayResult:
    """Replay ``firm_kw`` with the loop in control (or uncontrolled without one).

    Parameters
    ----------
    site : Site
        The park (its first battery, its grid meter).
    firm_kw : pandas.Series
        Firm net load per reading step [kW], UTC index, regular.
    vehicles, jobs : tuple
        EV sessions and deferrable jobs.
    loop : ControlLoop, optional
        The loop under test; None = uncontrolled reference.
    tenant_readings : pandas.DataFrame, optional
        Readings (meter_id, ts, value) of tenant meters, fed to the loop's watch as they come.
    on_step : callable, optional
        Called with the step number after each step (progress).
    meter_outage : (start, end), optional
        Grid-meter readings in this period are not delivered (stale-data fault injection).
    metered : callable, optional
        ``metered(window_start_utc)``: windows counting for the demand charge
        (:func:`bitgaram.peak.watch.metered_by`).
    """
    import time

    tic = time.perf_counter()
    index = pd.DatetimeIndex(firm_kw.index)
    if len(index) < 2:
        raise DataError("replay needs at least two steps of firm load")
    step_s = float((index[1] - index[0]).total_seconds())
    interval_s = loop.config.interval_s if loop is not None else 900.0
    plant = _Plant(site, vehicles, jobs, loop, step_s, interval_s)
    meter = grid_meter(site)
    by_ts = (
        _readings_by_ts(tenant_readings) if tenant_readings is not None and loop is not None else {}
    )
    firm = firm_kw.to_numpy(dtype=float)
    grid = np.zeros(len(index))
    last_reading: pd.Timestamp | None = None
    for k, t in enumerate(index):
        end = t + pd.Timedelta(seconds=step_s)
        if loop is not None and (t.value // 10**9) % int(interval_s) == 0:
            prev = float(firm[k - 1]) if k > 0 else float(firm[0])
            loop.tick(plant.snapshot(t, prev, last_reading))
        b_kw, ev_kw, job_kw = plant.battery_kw(t), plant.vehicles_kw(t, end), plant.jobs_kw(t)
        grid[k] = g = max(float(firm[k]) + b_kw + ev_kw + job_kw, 0.0)
        if loop is not None:
            if meter_outage is None or not meter_outage[0] <= t < meter_outage[1]:
                loop.on_reading(meter, t, g * plant.dt, now=end)
                last_reading = end
            for mid, val in by_ts.get(t, []):
                loop.on_reading(mid, t, val, now=end)
        if on_step is not None:
            on_step(k)
    series = pd.Series(grid, index=index, name="import_kw")
    windows = series.groupby(index.floor(f"{int(interval_s)}s")).mean()
    mask = np.array([metered is None or metered(w) for w in windows.index], dtype=bool)
    return ReplayResult(
        import_kw=series,
        windows_kw=windows,
        peak_kw=float(windows.max()),
        metered_peak_kw=float(windows[mask].max()) if mask.any() else 0.0,
        ev_shortfall_kwh=plant.shortfall_kwh,
        jobs_unfinished=plant.jobs_unfinished(),
        wall_s=time.perf_counter() - tic,
    )
