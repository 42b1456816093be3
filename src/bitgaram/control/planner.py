"""Planners: turn a snapshot into setpoints for the coming interval.

:class:`ParkPlanner` solves the park MILP of :mod:`bitgaram.optimize.park` (shared ESS, EV
fleet, deferrable jobs, demand-charge term) over a receding horizon and keeps its first step.
The firm load forecast is the snapshot's (``firm_forecast_kw``) or, without one, the day-type
seasonal naive (:mod:`bitgaram.forecast.daytype`) of the firm load the planner has seen so far:
the same time on the latest day of the same type (working day, Saturday, Sunday/holiday), which
falls back to the latest measured value until a day of history exists. The loop re-plans every
interval, and the peak watch corrects within the interval what the forecast misses. The demand
term's threshold is the metering point's target, so the plan avoids going above it when
flexibility allows.

Any planner raises :class:`~bitgaram.errors.SolveError` (or another
:class:`~bitgaram.errors.BitgaramError`) when it cannot plan; the loop then falls back to the
safe setpoints.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import pandas as pd

from bitgaram.assets.battery import BatteryParams
from bitgaram.assets.ev import Vehicle
from bitgaram.assets.jobs import Job, JobState
from bitgaram.control.setpoints import Mode, Setpoint, validity
from bitgaram.control.state import ParkSnapshot
from bitgaram.forecast.daytype import daytype_forecast
from bitgaram.optimize.park import ParkInputs, solve_park
from bitgaram.site.model import Site
from bitgaram.site.physics import battery_params, first_battery, soc_floor_kwh
from bitgaram.tariff import TouTariff
from bitgaram.tariff.daytype import day_types
from bitgaram.tariff.marginal import demand_charge_slope


class Planner(Protocol):
    """Anything that plans one interval."""

    def plan(
        self, snapshot: ParkSnapshot, month_peak_kw: float, target_kw: float
    ) -> list[Setpoint]:
        """Setpoints for the interval starting at ``snapshot.at``."""
        ...


def site_battery(site: Site, step_hours: float) -> tuple[str, BatteryParams, float] | None:
    """The site's first ESS as (id, physics with its usable window, soc_min energy [kWh])."""
    bat = first_battery(site)
    if bat is None:
        return None
    return bat.id, battery_params(bat, step_hours), soc_floor_kwh(bat)


class ParkPlanner:
    """Receding-horizon park MILP (see the module docstring).

    Parameters
    ----------
    site : Site
        The park (its first battery is the shared ESS; contract power from its tariff).
    tariff : TouTariff
        Energy rates, demand rules.
    horizon : int
        Steps planned ahead.
    interval_s : float
        Step and control interval [s] (the tariff's demand interval, 900).
    options : dict, optional
        HiGHS options (default: 0.1 % gap, 20 s limit).
    """

    def __init__(
        self,
        site: Site,
        tariff: TouTariff,
        horizon: int = 32,
        interval_s: float = 900.0,
        options: dict[str, float | int | bool | str] | None = None,
    ) -> None:
        self.site = site
        self.tariff = tariff
        self.horizon = horizon
        self.interval_s = interval_s
        self.dt = interval_s / 3600.0
        self.battery = site_battery(site, self.dt)
        self.contract_kw = site.site.tariff.contract_kw if site.site.tariff else None
        self.options = options or {"mip_rel_gap": 1e-3, "time_limit": 20.0}
        self.tz = site.site.timezone
        # Firm load seen at each tick [kW], keyed by the interval it measured (UTC start).
        self._seen: dict[pd.Timestamp, float] = {}

    def firm_forecast(self, snap: ParkSnapshot) -> np.ndarray:
        """Firm load [kW] of the next ``horizon`` intervals from the history seen up to ``snap``.

        Causal: only values measured before ``snap.at`` enter. Intervals not seen are filled
        with the previous value.
        """
        step = pd.Timedelta(seconds=self.interval_s)
        self._seen[pd.Timestamp(snap.at) - step] = float(snap.firm_kw)
        first = min(self._seen)
        past = pd.date_range(first, pd.Timestamp(snap.at) - step, freq=step)
        observed = pd.Series(self._seen).reindex(past).ffill().to_numpy(dtype=float)
        h = self.horizon
        spd = round(86400 / self.interval_s)
        if h > spd:
            return np.full(h, float(snap.firm_kw))
        values = np.concatenate([observed, np.full(h, np.nan)])[:, None]
        stamps = pd.date_range(first, periods=len(values), freq=step)
        local = stamps.tz_convert(self.tz).tz_localize(None)
        kinds = day_types(local, self.tariff.holiday_country)
        n = len(observed)
        fc = daytype_forecast(values, kinds, np.array([n]), h, spd, fit_end=n)
        return np.asarray(fc[0, :, 0], dtype=float)

    def inputs(self, snap: ParkSnapshot, month_peak_kw: float, target_kw: float) -> ParkInputs:
        """The park problem of this interval (step 0 = ``snap.at``)."""
        h, dt = self.horizon, self.dt
        local = pd.date_range(snap.at, periods=h, freq=f"{int(self.interval_s)}s")
        local = local.tz_convert(self.tz).tz_localize(None)
        if snap.firm_forecast_kw is not None and len(snap.firm_forecast_kw) >= h:
            firm = np.asarray(snap.firm_forecast_kw[:h], dtype=float)
        else:
            firm = self.firm_forecast(snap)
        excluded = list(self.tariff.demand_rules.excluded_periods)
        metered = ~np.isin(self.tariff.period(local), excluded)
        month = pd.Period(local[0], "M")
        slope = demand_charge_slope(
            self.tariff, month, target_kw, contract_kw=self.contract_kw, month_max_kw=month_peak_kw
        )

        def steps(ts: pd.Timestamp) -> int:
            return max(math.ceil((ts - snap.at).total_seconds() / self.interval_s - 1e-9), 0)

        vehicles = tuple(
            (
                Vehicle(
                    ev.id,
                    0,
                    max(steps(ev.departure), 1),
                    ev.stored_kwh,
                    min(
                        ev.required_kwh,
                        ev.stored_kwh + steps(ev.departure) * ev.charger_kw * dt * ev.efficiency,
                    ),
                    ev.capacity_kwh,
                    ev.charger_kw,
                    ev.v2g_kw,
                    ev.efficiency,
                ),
                ev.stored_kwh,
            )
            for ev in snap.evs
        )
        jobs = []
        for j in snap.jobs:
            if j.remaining_steps <= 0:
                continue
            deadline = max(steps(j.deadline), j.remaining_steps)
            job = Job(
                j.id,
                (j.power_kw,) * j.remaining_steps,
                steps(j.earliest),
                deadline,
                j.interruptible,
            )
            jobs.append((job, JobState(0, j.started)))
        soc = None
        params = None
        if self.battery is not None:
            params = self.battery[1]
            if snap.battery_soc_kwh is not None:
                soc = np.array([snap.battery_soc_kwh])
        return ParkInputs(
            start=0,
            step_hours=dt,
            firm_kwh=firm * dt,
            energy_rate=self.tariff.energy_rate(local),
            carbon=np.zeros(h),
            metered=metered,
            demand=slope,
            limit_kw=self.site.site.connection_limit_kw,
            battery=params,
            battery_soc_kwh=soc,
            vehicles=vehicles,
            jobs=tuple(jobs),
        )

    def plan(
        self, snapshot: ParkSnapshot, month_peak_kw: float, target_kw: float
    ) -> list[Setpoint]:
        """Solve and return the first step as setpoints.

        Raises
        ------
        SolveError
            If HiGHS fails.
        DataError
            If a vehicle or job cannot meet its requirement.
        """
        inp = self.inputs(snapshot, month_peak_kw, target_kw)
        plan = solve_park(inp, self.options)
        start, until = validity(snapshot.at, self.interval_s)
        out: list[Setpoint] = []
        if self.battery is not None and plan.battery_kwh.size:
            kw = float(plan.battery_kwh[0, 0]) / self.dt
            out.append(Setpoint(self.battery[0], "battery", kw, start, until, Mode.MPC, "plan"))
        for ev in snapshot.evs:
            kw = float(plan.ev_kwh[ev.id][0]) / self.dt
            out.append(Setpoint(ev.id, "ev", kw, start, until, Mode.MPC, "plan"))
        for j in snapshot.jobs:
            if j.remaining_steps <= 0:
                continue
            run = bool(plan.job_plan.get(j.id, np.zeros(1, bool))[0])
            out.append(
                Setpoint(j.id, "job", j.power_kw if run else 0.0, start, until, Mode.MPC, "plan")
            )
        return out
