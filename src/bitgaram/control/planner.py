"""Planners: turn a snapshot into setpoints for the coming interval.

:class:`ParkPlanner` solves the park MILP of :mod:`bitgaram.optimize.park` (shared ESS, EV
fleet, deferrable jobs, demand-charge term) over a receding horizon and keeps its first step.
The firm load forecast is the snapshot's (``firm_forecast_kw``) or, without one, the day-type
seasonal naive (:mod:`bitgaram.forecast.daytype`) of the firm load the planner has seen so far:
the same time on the latest day of the same type (working day, Saturday, Sunday/holiday), which
falls back to the latest measured value until a day of history exists. The loop re-plans every
interval, and the peak watch corrects within the interval what the forecast misses.

Decisions under uncertainty. The demand term prices the 15-min peak above the billing demand the
month pays already (its peak so far, the contract floor): the bill, not the watch's target, is
what the plan minimises; the target stays the peak watch's ceiling. The plan keeps each step's
import plus a **margin** under that billing level and under the connection limit: the upper
``margin_level`` quantile of the planner's own recent errors at the same step ahead, time of
day and day type (:class:`bitgaram.forecast.residuals.ErrorBook`), so the ESS is never charged
into load the forecast may have missed, and keeps the power to cover it. After each plan,
:attr:`ParkPlanner.peak_cap_kw` is the level the plan holds the interval to (the billing level
or the plan's own new peak); the loop's peak actions defend it within the interval.

A receding horizon (:data:`DEFAULT_HORIZON`, 8 h) does not see the afternoon from the night
before, nor the light-load hours from the peak-rate ones. So the energy the plan leaves in the
ESS at its end is valued by the **cost-to-go** of the typical day beyond it
(:class:`bitgaram.optimize.cost_to_go.CostToGo`): the least cost of those steps (energy at
their rates, the month's demand charge above the level the plan holds, the flexible loads due
then) as a function of the energy stored when they begin, one small LP per breakpoint. The plan
then charges at night for a day it cannot see yet, discharges through the peak-rate hours
as far as the rest of the day does not need the energy more, and does not spend early what a
level later in the day needs. Vehicles and jobs that may finish after the horizon pay the
rates after it for what they leave for then (``tail_rate``), so they are not all pushed to the
last steps the plan can see before they are due. And the interval it executes pays the demand
rate for any import above that level even when the plan expects a higher peak later
(``hold_first_kw``): a peak planned for a surge at 14:00 does not make a rise at 11:30 free, so
the month's billing level only rises when the ESS and the flexible loads cannot hold it now.
``cost_to_go=False`` plans the earlier way: a **reserve**, the ESS energy the typical day beyond
the horizon needs to stay under the level (:func:`bitgaram.optimize.demand.peak_reserve`), each
kWh short of it priced at the demand rate spread over the hours above the level, and the energy
left valued at the horizon's lowest rate.

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
from bitgaram.forecast.residuals import ErrorBook
from bitgaram.optimize.cost_to_go import CostToGo, CostToGoCurve
from bitgaram.optimize.demand import PeakOutlook, PeakReserve, peak_reserve
from bitgaram.optimize.park import ParkInputs, solve_park
from bitgaram.site.model import Site
from bitgaram.site.physics import battery_params, first_battery, soc_floor_kwh
from bitgaram.tariff import TouTariff
from bitgaram.tariff.daytype import day_types
from bitgaram.tariff.demand import billing_demand
from bitgaram.tariff.marginal import demand_charge_slope

#: Days of seen firm load the day-type forecast reads (it copies at most two weeks back).
HISTORY_DAYS = 15

#: Steps a park plan looks ahead by default (8 h of 15-min steps): the shipped setting of
#: ``bitgaram control run``, the service and the benchmarks alike.
DEFAULT_HORIZON = 32

#: Quantile of the planner's recent forecast errors the plan stays ready for: the same
#: upper decile as the P90 of the forecasts; one level for every site, not fitted.
MARGIN_LEVEL = 0.9


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


def flexible_kwh(snap: ParkSnapshot, step_hours: float, within: pd.Timedelta) -> float:
    """Energy flexible loads must still get by ``snap.at + within`` [kWh].

    Jobs not started yet whose deadline falls within (``remaining_steps`` of ``step_hours``),
    and vehicles leaving within, their energy still needed (at the charger's efficiency).
    """
    end = pd.Timestamp(snap.at) + within
    jobs = sum(
        j.power_kw * j.remaining_steps * step_hours
        for j in snap.jobs
        if j.remaining_steps > 0 and not j.started and pd.Timestamp(j.deadline) <= end
    )
    evs = sum(
        max(ev.required_kwh - ev.stored_kwh, 0.0) / ev.efficiency
        for ev in snap.evs
        if pd.Timestamp(ev.departure) <= end
    )
    return float(jobs + evs)


def _steps_until(snap: ParkSnapshot, interval_s: float, ts: pd.Timestamp) -> int:
    """Whole planning steps from the snapshot to ``ts`` (0 if it is past)."""
    return max(math.ceil((ts - snap.at).total_seconds() / interval_s - 1e-9), 0)


def _vehicles(
    snap: ParkSnapshot, interval_s: float, dt: float
) -> tuple[tuple[Vehicle, float], ...]:
    """The plugged-in vehicles as the park problem's (vehicle, stored kWh) pairs; a need
    the charger can no longer meet before departure is cut to what it can."""
    out = []
    for ev in snap.evs:
        left = _steps_until(snap, interval_s, ev.departure)
        reachable = ev.stored_kwh + left * ev.charger_kw * dt * ev.efficiency
        vehicle = Vehicle(
            ev.id,
            0,
            max(left, 1),
            ev.stored_kwh,
            min(ev.required_kwh, reachable),
            ev.capacity_kwh,
            ev.charger_kw,
            ev.v2g_kw,
            ev.efficiency,
        )
        out.append((vehicle, ev.stored_kwh))
    return tuple(out)


def _jobs(snap: ParkSnapshot, interval_s: float) -> tuple[tuple[Job, JobState], ...]:
    """The jobs with steps left as the park problem's (job, state) pairs; a deadline too
    close for the steps left is moved to the earliest one they fit."""
    out = []
    for j in snap.jobs:
        if j.remaining_steps <= 0:
            continue
        deadline = max(_steps_until(snap, interval_s, j.deadline), j.remaining_steps)
        job = Job(
            j.id,
            (j.power_kw,) * j.remaining_steps,
            _steps_until(snap, interval_s, j.earliest),
            deadline,
            j.interruptible,
        )
        out.append((job, JobState(0, j.started)))
    return tuple(out)


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
    margin_level : float or None
        Error quantile the plan keeps room for (module docstring); None = plan on the point
        forecast alone.
    history_kw : pandas.Series, optional
        Firm load measured before the planner starts [kW], indexed by interval start (UTC),
        e.g. read from the store at start-up: the day-type forecast then has earlier days
        to copy from the first interval on, instead of the latest value alone.
    cost_to_go : bool
        Value the ESS energy left at the horizon's end by the cost-to-go of the typical day
        beyond it (:class:`bitgaram.optimize.cost_to_go.CostToGo`; default). False: the
        reserve and its shortfall price, with the horizon's lowest rate for the rest.
    """

    def __init__(
        self,
        site: Site,
        tariff: TouTariff,
        horizon: int = DEFAULT_HORIZON,
        interval_s: float = 900.0,
        options: dict[str, float | int | bool | str] | None = None,
        margin_level: float | None = MARGIN_LEVEL,
        history_kw: pd.Series | None = None,
        cost_to_go: bool = True,
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
        self.margin_level = margin_level
        # Firm load seen at each tick [kW], keyed by the interval it measured (UTC start).
        self._seen: dict[pd.Timestamp, float] = {}
        if history_kw is not None:
            hist = history_kw.dropna()
            stamps = pd.DatetimeIndex(hist.index).tz_convert("UTC")
            self._seen.update(zip(stamps, hist.to_numpy(dtype=float).tolist(), strict=True))
        self.errors = ErrorBook(round(86400 / interval_s))
        self.outlook = PeakOutlook(self.battery[1] if self.battery else None, self.dt)
        self.tail = CostToGo(self.battery[1], self.dt) if self.battery and cost_to_go else None
        #: Cost-to-go the last plan valued its final stored energy by (None: not used).
        self.cost_to_go: CostToGoCurve | None = None
        #: Import level the last plan holds its first interval to [kW] (None: not metered).
        self.peak_cap_kw: float | None = None
        #: ESS energy the last plan kept for the typical day beyond its horizon (None: none).
        self.reserve: PeakReserve | None = None
        self._billing_kw = 0.0
        self._typical0 = 0.0
        self._kind_cache: dict[pd.Timestamp, int] = {}

    def _step(self, ts: pd.Timestamp) -> int:
        return int(pd.Timestamp(ts).value // int(self.interval_s * 1e9))

    def _slots(self, local: pd.DatetimeIndex) -> np.ndarray:
        minutes = local.hour * 60 + local.minute
        return np.asarray(minutes * 60 // int(self.interval_s), dtype=int)

    def _margin(self, snap: ParkSnapshot, firm: np.ndarray, local: pd.DatetimeIndex) -> np.ndarray:
        """File the last interval's error, remember ``firm``, the margin at ``local`` [kW]."""
        step = pd.Timedelta(seconds=self.interval_s)
        kinds = self._kinds(local)
        last = (pd.Timestamp(snap.at) - step).tz_convert(self.tz).tz_localize(None)
        last_idx = pd.DatetimeIndex([last])
        self.errors.measure(
            self._step(snap.at) - 1,
            float(snap.firm_kw),
            int(self._kinds(last_idx)[0]),
            int(self._slots(last_idx)[0]),
        )
        self.errors.issue(self._step(snap.at), firm)
        if self.margin_level is None:
            return np.zeros(len(local))
        up = self.errors.upper(self._step(snap.at), kinds, self._slots(local), self.margin_level)
        return np.maximum(up, 0.0)

    def _reserve(
        self,
        ahead: np.ndarray,
        margin: np.ndarray,
        metered: np.ndarray,
        level_kw: float,
        h: int,
        flexible: float = 0.0,
    ) -> PeakReserve | None:
        """ESS energy to keep at the horizon's end for the typical day beyond it (or None).

        The steps after the horizon (to a day ahead) of the typical day plus the margin must
        stay under the level the plan holds (billing demand or peak outlook), charging in the
        room the day leaves after the flexible loads (``flexible`` [kWh]): what that needs
        stored when the horizon ends.
        """
        if self.battery is None or ahead.size <= h:
            return None
        rest = ahead[h:] + margin[h:]
        return peak_reserve(
            rest,
            metered[h:],
            level_kw,
            self.battery[1],
            self.dt,
            self.site.site.connection_limit_kw,
            flexible,
        )

    def _kinds(self, local: pd.DatetimeIndex) -> np.ndarray:
        """Day types of local timestamps, computed once per date (holiday lookups are slow)."""
        days = local.normalize()
        missing = days.unique().difference(pd.DatetimeIndex(list(self._kind_cache)))
        if len(missing):
            kinds = day_types(missing, self.tariff.holiday_country)
            self._kind_cache.update(zip(missing, kinds.tolist(), strict=True))
        return pd.Series(self._kind_cache).reindex(days).to_numpy(dtype=np.int8)

    def _forecasts(self, snap: ParkSnapshot, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Day-type forecast of ``steps`` intervals [kW]: with and without the correction."""
        step = pd.Timedelta(seconds=self.interval_s)
        self._seen[pd.Timestamp(snap.at) - step] = float(snap.firm_kw)
        spd = round(86400 / self.interval_s)
        if steps > spd:
            flat = np.full(steps, float(snap.firm_kw))
            return flat, flat
        # The day-type copy looks back at most two weeks, its correction one lag.
        first = max(min(self._seen), pd.Timestamp(snap.at) - step * spd * HISTORY_DAYS)
        past = pd.date_range(first, pd.Timestamp(snap.at) - step, freq=step)
        observed = pd.Series(self._seen).reindex(past).ffill().to_numpy(dtype=float)
        values = np.concatenate([observed, np.full(steps, np.nan)])[:, None]
        stamps = pd.date_range(first, periods=len(values), freq=step)
        kinds = self._kinds(stamps.tz_convert(self.tz).tz_localize(None))
        n = len(observed)
        out = [
            np.asarray(daytype_forecast(values, kinds, np.array([n]), steps, spd, end)[0, :, 0])
            for end in (n, 0)
        ]
        return out[0], out[1]

    def firm_forecast(
        self, snap: ParkSnapshot, steps: int | None = None, correct: bool = True
    ) -> np.ndarray:
        """Firm load [kW] of the next ``steps`` (default ``horizon``) intervals seen from ``snap``.

        ``correct=False``: the plain copy of the latest day of the same type, without the
        decaying correction by the last error (the typical day, not a nowcast).

        Causal: only values measured before ``snap.at`` enter. Intervals not seen are filled
        with the previous value.
        """
        corrected, plain = self._forecasts(snap, self.horizon if steps is None else steps)
        return corrected if correct else plain

    def inputs(self, snap: ParkSnapshot, month_peak_kw: float, target_kw: float) -> ParkInputs:
        """The park problem of this interval (step 0 = ``snap.at``)."""
        h, dt = self.horizon, self.dt
        local = pd.date_range(snap.at, periods=h, freq=f"{int(self.interval_s)}s")
        local = local.tz_convert(self.tz).tz_localize(None)
        spd = round(86400 / self.interval_s)
        if snap.firm_forecast_kw is not None and len(snap.firm_forecast_kw) >= h:
            ahead = np.asarray(snap.firm_forecast_kw, dtype=float)
            firm = ahead[:h]
        else:
            corrected, ahead = self._forecasts(snap, max(h, spd) if h <= spd else h)
            firm = corrected[:h]
        far = pd.date_range(snap.at, periods=ahead.size, freq=f"{int(self.interval_s)}s")
        far = far.tz_convert(self.tz).tz_localize(None)
        excluded = list(self.tariff.demand_rules.excluded_periods)
        metered_far = ~np.isin(self.tariff.period(far), excluded)
        metered = metered_far[:h]
        margin_far = self._margin(snap, firm, far)
        margin = margin_far[:h]
        month = pd.Period(local[0], "M")
        rules = self.tariff.demand_rules
        billing = billing_demand(month, {month: month_peak_kw}, rules, self.contract_kw)
        # Price the peak only above what the coming day reaches anyway with even odds: the
        # typical day (the copy, no margin, no correction by the last error: a surprise now
        # is not a level the day will keep) of this month's metered steps, shaved by the ESS.
        same_month = metered_far & (far.to_period("M") == month)
        outlook = self.outlook(ahead, same_month, snap.battery_soc_kwh)
        self._billing_kw = billing.billing_kw
        self._typical0 = float(ahead[0])
        level = max(billing.billing_kw, outlook)
        slope = demand_charge_slope(
            self.tariff,
            month,
            level,
            contract_kw=self.contract_kw,
            month_max_kw=month_peak_kw,
        )
        within = pd.Timedelta(seconds=self.interval_s * ahead.size)
        flexible = flexible_kwh(snap, dt, within)
        curve = None
        reserve = None
        tail_rate = None
        if self.tail is not None and ahead.size > h:
            tail_rate = self.tariff.energy_rate(far[h:])
            # What is due after the horizon but within the tail is the tail's to serve.
            span = pd.Timedelta(seconds=self.interval_s * h)
            curve = self.tail(
                ahead[h:],
                tail_rate,
                same_month[h:],
                slope,
                margin_far[h:],
                self.site.site.connection_limit_kw,
                max(flexible - flexible_kwh(snap, dt, span), 0.0),
            )
        else:
            reserve = self._reserve(ahead, margin_far, same_month, level, h, flexible)
        self.reserve = reserve
        self.cost_to_go = curve

        vehicles = _vehicles(snap, self.interval_s, dt)
        jobs = _jobs(snap, self.interval_s)
        soc = None
        params = None
        if self.battery is not None and snap.battery_available:  # a faulted ESS is left out
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
            jobs=jobs,
            margin_kw=margin,
            reserve_kwh=0.0 if reserve is None else reserve.energy_kwh,
            reserve_value=0.0
            if reserve is None
            else slope.rate / max(reserve.excess_hours, self.dt),
            hold_first_kw=level,
            tail_rate=tail_rate,
            cost_to_go=curve,
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
        self.peak_cap_kw = None
        if inp.demand is not None and bool(inp.metered[0]):
            # The month's billing so far, or what the plan itself lets this interval reach on
            # the lower of the typical day and the nowcast: a surprise in the firm load (the
            # nowcast's correction) is what the peak actions are there to absorb, not a
            # licence for a new peak.
            firm0 = float(inp.firm_kwh[0]) / self.dt
            planned = float(plan.grid_kwh[0]) / self.dt - firm0 + min(self._typical0, firm0)
            margin0 = 0.0 if inp.margin_kw is None else float(inp.margin_kw[0])
            self.peak_cap_kw = max(self._billing_kw, planned + margin0)
        start, until = validity(snapshot.at, self.interval_s)
        out: list[Setpoint] = []
        if self.battery is not None and plan.battery_kwh.size:
            kw = float(plan.battery_kwh[0, 0]) / self.dt
            out.append(Setpoint(self.battery[0], "battery", kw, start, until, Mode.MPC, "plan"))
        elif self.battery is not None and not snapshot.battery_available:
            # idle until the device confirms a write again (this write is the probe)
            reason = "ESS unavailable: device fault"
            out.append(Setpoint(self.battery[0], "battery", 0.0, start, until, Mode.SAFE, reason))
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
