"""15-minute causal replay of an industrial park with a controller in the loop.

Every step ``t`` the controller sees only what is known at the start of the step
(measured loads and PV up to ``t - 1``, the states of the ESS, vehicles and
jobs, the sessions and jobs announced so far) and asks for the ESS energy, each
vehicle's charge and which jobs run. The simulator applies the physics of
:mod:`bitgaram.assets` (the same modules the optimizer linearises), including
two safety nets that hold under every controller:

- a vehicle or job at zero laxity is charged/run (:func:`~bitgaram.assets.ev.
  must_charge_kwh`, :func:`~bitgaram.assets.jobs.must_run`), so every vehicle
  leaves with its energy and no job misses its deadline (given feasible input);
- a **connection-limit guard**: if the step's import would exceed the limit,
  the ESS discharges more, then vehicles with laxity and interruptible jobs not
  at zero laxity are held back, in that order.

Controllers: ``none`` (ESS idle, vehicles charge on arrival, jobs start as early
as allowed), ``rule`` (time-of-use rules: ESS charges in light load and
discharges in peak hours; vehicles and jobs use the cheapest remaining TOU
steps), ``mpc`` (the park MILP of :mod:`bitgaram.optimize.park` over 24 h, every
step, on BestBaseline forecasts of :mod:`bitgaram.forecast.baselines` issued at
the step: persistence, same time yesterday or last week, whichever had the
lowest error over the week before the simulation), ``oracle`` (one solve of the
whole period with the actual data, every session and job known: the reference
the MPC is measured against).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from bitgaram.assets.battery import BatteryParams, BatteryState, StepResult, initial_state
from bitgaram.assets.battery import step as battery_step
from bitgaram.assets.datacentre import DataCentre, split_it_load
from bitgaram.assets.ev import (
    Vehicle,
    asap_kwh,
    check_vehicles,
    must_charge_kwh,
    step_vehicle,
    steps_needed,
)
from bitgaram.assets.jobs import Job, JobState, check_jobs, must_run, remaining, step_job
from bitgaram.errors import ConfigError, DataError
from bitgaram.forecast.daytype import daytype_forecast
from bitgaram.optimize.park import (
    MIP_OPTIONS,
    PARK_MEMBER,
    ParkInputs,
    ParkPlan,
    SavingsSplit,
    solve_park,
    split_savings,
)
from bitgaram.site.model import DataCentreAsset, Site, load_site
from bitgaram.site.physics import battery_params, first_battery
from bitgaram.tariff import MonthlyBill, TouTariff, compute_bills, load_tariff
from bitgaram.tariff.daytype import day_types
from bitgaram.tariff.demand import billing_demand
from bitgaram.tariff.marginal import DemandChargeSlope, demand_charge_slope

ControllerName = Literal["none", "rule", "mpc", "oracle"]
CONTROLLERS: tuple[ControllerName, ...] = ("none", "rule", "mpc", "oracle")

#: IT power of one deferrable data-centre job [kW] (a GPU pod); the site file has no field for it.
DC_JOB_IT_KW = 240.0

#: Tolerance on the connection limit [kWh per step]: solver and float round-off.
LIMIT_TOL_KWH = 1e-6


@dataclass(frozen=True)
class ParkCase:
    """Everything a park simulation needs (15-min steps).

    Attributes
    ----------
    site : Site
        The site file.
    tariff : TouTariff
        The park's tariff option.
    index : pandas.DatetimeIndex
        Naive local interval starts of every step (history included).
    step_hours : float
        Step length [h].
    firm_kw : pandas.DataFrame
        Inflexible load per tenant [kW] (data-centre firm facility load included).
    pv_kw : numpy.ndarray
        Rooftop PV [kW].
    carbon : numpy.ndarray
        Grid carbon intensity [kgCO2/kWh].
    vehicles : tuple of Vehicle
        EV sessions.
    jobs : tuple of Job
        Deferrable jobs (process batches and data-centre GPU jobs).
    battery : BatteryParams or None
        The shared ESS.
    limit_kw, contract_kw : float or None
        Connection limit and contract power [kW].
    sim_start, sim_end : int
        Simulated steps ``sim_start .. sim_end`` (exclusive); earlier steps are history.
    """

    site: Site
    tariff: TouTariff
    index: pd.DatetimeIndex
    step_hours: float
    firm_kw: pd.DataFrame
    pv_kw: np.ndarray
    carbon: np.ndarray
    vehicles: tuple[Vehicle, ...]
    jobs: tuple[Job, ...]
    battery: BatteryParams | None
    limit_kw: float | None
    contract_kw: float | None
    sim_start: int
    sim_end: int

    @property
    def firm_net_kwh(self) -> np.ndarray:
        """Firm load minus PV per step [kWh]."""
        return (self.firm_kw.sum(axis=1).to_numpy() - self.pv_kw) * self.step_hours

    @property
    def steps_per_day(self) -> int:
        """Steps per day."""
        return round(24 / self.step_hours)


def load_park_case(
    directory: str | Path, month: str = "2026-06", days: int | None = None
) -> ParkCase:
    """Read a park directory: ``site.toml``, ``profiles.csv``, ``vehicles.csv``, ``jobs.csv``.

    Parameters
    ----------
    directory : str or pathlib.Path
        E.g. ``data/industrial_park`` (made by ``bench/make_industrial_park.py``).
    month : str
        Simulated month (``YYYY-MM``); the profiles before it are history.
    days : int, optional
        Simulate only the first ``days`` days of the month.

    Raises
    ------
    ConfigError, DataError
        Missing files, unknown tenants, infeasible vehicles or jobs (named).
    """
    root = Path(directory)
    site = load_site(root / "site.toml")
    if site.site.tariff is None:
        raise ConfigError(f"{root / 'site.toml'}: the park needs [site] tariff")
    tariff = load_tariff(site.site.tariff.name, option=site.site.tariff.option)
    if not isinstance(tariff, TouTariff):
        raise ConfigError("the park simulation needs a time-of-use tariff")
    try:
        prof = pd.read_csv(root / "profiles.csv")
        veh = pd.read_csv(root / "vehicles.csv")
        jobs_f = pd.read_csv(root / "jobs.csv")
    except OSError as exc:
        raise DataError(f"{root}: cannot read park files: {exc}") from exc
    index = pd.DatetimeIndex(pd.to_datetime(prof["timestamp"]))
    step = pd.Timedelta(np.median(np.diff(index.to_numpy())))
    step_hours = step.total_seconds() / 3600.0

    def at(stamp: str) -> int:
        ts = pd.Timestamp(stamp)
        if ts >= index[-1] + step:
            return len(index)
        if ts < index[0]:
            return -int((index[0] - ts) / step)
        return int(index.searchsorted(ts, side="right")) - 1

    tenants = [t.id for t in site.tenants]
    firm = pd.DataFrame(index=index)
    for t in tenants:
        col = f"{t}_kw"
        if col in prof:
            firm[t] = prof[col].to_numpy(dtype=float)
    steps_per_day = round(24 / step_hours)
    jobs: list[Job] = []
    for asset in site.assets:
        if isinstance(asset, DataCentreAsset):
            dc = DataCentre(
                asset.id, asset.pue, asset.deferrable_share, DC_JOB_IT_KW, asset.tenant or ""
            )
            it = prof["dc_it_kw"].to_numpy(dtype=float)
            dc_firm, dc_jobs = split_it_load(dc, it, steps_per_day)
            firm[asset.tenant or asset.id] = dc_firm
            jobs += dc_jobs
    vehicles = tuple(
        Vehicle(
            id=str(r["id"]),
            arrival=at(r["arrival"]),
            departure=at(r["departure"]),
            arrival_kwh=float(r["arrival_kwh"]),
            required_kwh=float(r["required_kwh"]),
            capacity_kwh=float(r["capacity_kwh"]),
            charger_kw=float(r["charger_kw"]),
            v2g_kw=float(r["v2g_kw"]),
            tenant=str(r["tenant"]),
        )
        for r in veh.to_dict("records")
    )
    for r in jobs_f.to_dict("records"):
        jobs.append(
            Job(
                id=str(r["id"]),
                power_kw=(float(r["power_kw"]),) * int(r["duration_steps"]),
                earliest=at(r["earliest"]),
                deadline=at(r["deadline"]),
                interruptible=bool(r["interruptible"]),
                known_from=at(r["known_from"]),
                tenant=str(r["tenant"]),
            )
        )
    check_vehicles(vehicles, step_hours)
    check_jobs(jobs)
    period = pd.Period(month, "M")
    start = int(index.searchsorted(period.start_time))
    end = int(index.searchsorted((period + 1).start_time))
    if days is not None:
        end = min(end, start + days * steps_per_day)
    if start >= end or start == 0:
        raise DataError(f"{root}: profiles must cover history before and the month {month}")
    # Sessions and jobs of the simulated period only; a session already plugged in at the
    # start begins there with its arrival energy.
    vehicles = tuple(
        replace(v, arrival=max(v.arrival, start)) if v.arrival < start else v
        for v in vehicles
        if v.departure > start and v.arrival < end
    )
    jobs = [j for j in jobs if j.deadline > start and j.earliest < end]
    check_vehicles(vehicles, step_hours)
    check_jobs(jobs)
    bat = first_battery(site)
    return ParkCase(
        site=site,
        tariff=tariff,
        index=index,
        step_hours=step_hours,
        firm_kw=firm,
        pv_kw=prof["pv_kw"].to_numpy(dtype=float),
        carbon=prof["carbon_kg_per_kwh"].to_numpy(dtype=float),
        vehicles=vehicles,
        jobs=tuple(jobs),
        battery=None if bat is None else battery_params(bat, step_hours),
        limit_kw=site.site.connection_limit_kw,
        contract_kw=site.site.tariff.contract_kw,
        sim_start=start,
        sim_end=end,
    )


@dataclass
class ParkState:
    """State at the start of a step (what a controller may read)."""

    step: int
    battery: BatteryState | None
    ev_kwh: dict[str, float]
    jobs: dict[str, JobState]
    month_max_kw: float = 0.0


@dataclass(frozen=True)
class Decision:
    """A controller's wishes for one step.

    Attributes
    ----------
    battery_kwh : numpy.ndarray
        ESS grid energy per battery (+ charge) [kWh].
    ev_kwh : dict
        Vehicle id -> grid energy (+ charge) [kWh]; missing vehicles get 0.
    run : frozenset of str
        Jobs that should run (or start) this step.
    import_cap_kwh : float or None
        Import the ESS's local controller holds in metered steps by discharging more when
        the measured import exceeds it [kWh per step]; None = no peak guard.
    """

    battery_kwh: np.ndarray
    ev_kwh: dict[str, float] = field(default_factory=dict)
    run: frozenset[str] = frozenset()
    import_cap_kwh: float | None = None


class ParkController(Protocol):
    """Anything that turns the state into a decision (causal: reads nothing of step t)."""

    def decide(self, case: ParkCase, state: ParkState) -> Decision: ...


def _n_bat(case: ParkCase) -> int:
    return 0 if case.battery is None else int(np.atleast_1d(case.battery.capacity_kwh).size)


def _active_vehicles(case: ParkCase, t: int) -> list[Vehicle]:
    return [v for v in case.vehicles if v.arrival <= t < v.departure]


def _active_jobs(case: ParkCase, state: ParkState) -> list[Job]:
    t = state.step
    return [
        j for j in case.jobs if j.earliest <= t < j.deadline and remaining(j, state.jobs[j.id]) > 0
    ]


class NoControl:
    """ESS idle, vehicles charge on arrival, jobs start as early as allowed."""

    def decide(self, case: ParkCase, state: ParkState) -> Decision:
        """Decision of step ``state.step``."""
        t = state.step
        ev = {
            v.id: asap_kwh(v, state.ev_kwh[v.id], t, case.step_hours)
            for v in _active_vehicles(case, t)
        }
        run = frozenset(j.id for j in _active_jobs(case, state))
        return Decision(np.zeros(_n_bat(case)), ev, run)


class RuleControl:
    """Time-of-use rules (no optimisation, no forecast).

    The ESS charges evenly over the light-load hours and discharges evenly over
    the peak hours of each day; a vehicle charges in the cheapest steps left before
    it leaves (the ``n`` cheapest, ``n`` the steps it needs at full power); an
    interruptible job runs in its cheapest remaining steps, a non-interruptible one
    starts where its profile's average rate is lowest. In metered steps the ESS also
    holds the import at the month's peak so far (threshold peak shaving).
    """

    def __init__(self, case: ParkCase) -> None:
        self._rate = case.tariff.energy_rate(case.index)
        self._period = case.tariff.period(case.index)

    def decide(self, case: ParkCase, state: ParkState) -> Decision:
        """Decision of step ``state.step``."""
        t = state.step
        dt = case.step_hours
        bat = np.zeros(_n_bat(case))
        if case.battery is not None and state.battery is not None:
            period = self._period[t]
            day_end = (t // case.steps_per_day + 1) * case.steps_per_day
            same = self._period[t:day_end] == period
            # steps left in this period today (contiguous or not)
            left = max(int(same.sum()), 1)
            soc, cap = state.battery.soc_kwh, state.battery.capacity_kwh
            if period == "light":
                bat = np.minimum((cap - soc) / left, np.asarray(case.battery.nominal_power_kw) * dt)
            elif period == "peak":
                bat = -np.minimum(soc / left, np.asarray(case.battery.nominal_power_kw) * dt)
        ev: dict[str, float] = {}
        for v in _active_vehicles(case, t):
            n = steps_needed(v, state.ev_kwh[v.id], dt)
            window = self._rate[t : v.departure]
            if n > 0 and self._rate[t] <= np.sort(window)[min(n, window.size) - 1]:
                ev[v.id] = asap_kwh(v, state.ev_kwh[v.id], t, dt)
        run: set[str] = set()
        for j in _active_jobs(case, state):
            js = state.jobs[j.id]
            window = self._rate[t : j.deadline]
            if j.interruptible:
                n = remaining(j, js)
                if self._rate[t] <= np.sort(window)[min(n, window.size) - 1]:
                    run.add(j.id)
            elif not js.started:
                d = j.duration
                starts = np.convolve(window, np.ones(d) / d, mode="valid")
                if starts.size and starts[0] <= starts.min() + 1e-9:
                    run.add(j.id)
        # Threshold peak shaving: never set a new monthly peak while the ESS holds energy.
        hold = state.month_max_kw * dt if state.month_max_kw > 0 else None
        return Decision(bat, ev, frozenset(run), hold)


def _metered(case: ParkCase) -> np.ndarray:
    excluded = case.tariff.demand_rules.excluded_periods
    return ~np.isin(case.tariff.period(case.index), list(excluded))


class MPCControl:
    """Receding-horizon park MILP on causal baseline forecasts (see the module docstring).

    Parameters
    ----------
    case : ParkCase
        The park.
    horizon : int
        Steps planned ahead (96 = 24 h at 15 min).
    carbon_price : float
        Price of emissions in the objective [KRW/kgCO2].
    """

    def __init__(self, case: ParkCase, horizon: int = 96, carbon_price: float = 0.0) -> None:
        self.horizon = horizon
        self.carbon_price = carbon_price
        self._rate = case.tariff.energy_rate(case.index)
        self._metered = _metered(case)
        series = case.firm_kw.to_numpy(dtype=float)
        values = np.column_stack([series, case.pv_kw, case.carbon])
        origins = np.arange(case.sim_start, case.sim_end)
        days = day_types(case.index, case.tariff.holiday_country)
        fc = daytype_forecast(values, days, origins, horizon, case.steps_per_day, case.sim_start)
        self._firm = fc[:, :, :-2].sum(axis=2) - fc[:, :, -2]
        self._carbon = fc[:, :, -1]
        self.solve_seconds: list[float] = []

    def inputs(self, case: ParkCase, state: ParkState) -> ParkInputs:
        """The park problem of this step (forecasts issued at the step, known sessions/jobs)."""
        t = state.step
        i = t - case.sim_start
        h = min(self.horizon, len(case.index) - t)
        dt = case.step_hours
        vehicles = tuple(
            (v, state.ev_kwh[v.id])
            for v in case.vehicles
            if v.known <= t and v.departure > t and v.arrival < t + h
        )
        jobs = tuple(
            (j, state.jobs[j.id])
            for j in case.jobs
            if j.known <= t
            and remaining(j, state.jobs[j.id]) > 0
            and j.earliest < t + h
            and j.deadline > t
        )
        return ParkInputs(
            start=t,
            step_hours=dt,
            firm_kwh=self._firm[i, :h] * dt,
            energy_rate=self._rate[t : t + h],
            carbon=self._carbon[i, :h],
            metered=self._metered[t : t + h],
            demand=_demand_slope(case, t, state.month_max_kw),
            limit_kw=case.limit_kw,
            battery=case.battery,
            battery_soc_kwh=None if state.battery is None else state.battery.soc_kwh,
            vehicles=vehicles,
            jobs=jobs,
            carbon_price=self.carbon_price,
        )

    def decide(self, case: ParkCase, state: ParkState) -> Decision:
        """Solve the park problem and apply its first step."""
        inp = self.inputs(case, state)
        tic = time.perf_counter()
        plan = solve_park(inp)
        self.solve_seconds.append(time.perf_counter() - tic)
        return _first_step(plan, case, 0, state.month_max_kw)


def _first_step(plan: ParkPlan, case: ParkCase, k: int = 0, month_max_kw: float = 0.0) -> Decision:
    bat = plan.battery_kwh[:, k] if plan.battery_kwh.size else np.zeros(_n_bat(case))
    ev = {vid: float(e[k]) for vid, e in plan.ev_kwh.items()}
    run = frozenset(j for j, p in plan.job_plan.items() if p[k])
    cap = max(plan.peak_kw, month_max_kw) * case.step_hours
    return Decision(np.asarray(bat, dtype=float), ev, run, cap)


def _demand_slope(case: ParkCase, t: int, month_max_kw: float) -> DemandChargeSlope:
    """The month's demand charge slope given its metered peak so far [kW]."""
    month = pd.Period(case.index[t], "M")
    rules = case.tariff.demand_rules
    bd = billing_demand(month, {month: month_max_kw}, rules, case.contract_kw)
    return demand_charge_slope(
        case.tariff,
        month,
        bd.billing_kw,
        contract_kw=case.contract_kw,
        month_max_kw=month_max_kw,
    )


def perfect_inputs(case: ParkCase, carbon_price: float = 0.0) -> ParkInputs:
    """The whole simulated period as one park problem with actual data (perfect foresight)."""
    t0, t1 = case.sim_start, case.sim_end
    init = initial_state(case.battery) if case.battery is not None else None
    return ParkInputs(
        start=t0,
        step_hours=case.step_hours,
        firm_kwh=case.firm_net_kwh[t0:t1],
        energy_rate=case.tariff.energy_rate(case.index[t0:t1]),
        carbon=case.carbon[t0:t1],
        metered=_metered(case)[t0:t1],
        demand=_demand_slope(case, t0, 0.0),
        limit_kw=case.limit_kw,
        battery=case.battery,
        battery_soc_kwh=None if init is None else init.soc_kwh,
        vehicles=tuple(
            (v, v.arrival_kwh) for v in case.vehicles if v.departure > t0 and v.arrival < t1
        ),
        jobs=tuple((j, JobState()) for j in case.jobs if j.deadline > t0 and j.earliest < t1),
        carbon_price=carbon_price,
    )


def split_park_savings(case: ParkCase, saving: float | None = None) -> SavingsSplit:
    """Split the park's optimisation saving over the period to its tenants and the park.

    Members are the site's tenants (owning their vehicles and jobs) and
    :data:`~bitgaram.optimize.park.PARK_MEMBER` (the shared ESS); the rule is
    :func:`bitgaram.optimize.park.split_savings` on the perfect-foresight problem of the period;
    ``saving`` [KRW] is what is split (e.g. the simulated bill saving of the MPC).
    """
    members = [t.id for t in case.site.tenants] + [PARK_MEMBER]
    return split_savings(
        perfect_inputs(case), members, saving, {**MIP_OPTIONS, "time_limit": 1800.0}
    )


class OracleControl:
    """One solve of the whole simulated period with actual data (perfect foresight)."""

    def __init__(self, case: ParkCase, carbon_price: float = 0.0) -> None:
        inp = perfect_inputs(case, carbon_price)
        tic = time.perf_counter()
        self.plan = solve_park(inp, {**MIP_OPTIONS, "time_limit": 1800.0})
        self.solve_seconds = [time.perf_counter() - tic]
        self._t0 = case.sim_start

    def decide(self, case: ParkCase, state: ParkState) -> Decision:
        """The plan's step."""
        return _first_step(self.plan, case, state.step - self._t0)


def make_controller(
    name: ControllerName, case: ParkCase, carbon_price: float = 0.0
) -> ParkController:
    """A controller by name (``none``, ``rule``, ``mpc``, ``oracle``)."""
    if name == "none":
        return NoControl()
    if name == "rule":
        return RuleControl(case)
    if name == "mpc":
        return MPCControl(case, carbon_price=carbon_price)
    if name == "oracle":
        return OracleControl(case, carbon_price=carbon_price)
    raise ConfigError(f"unknown controller {name!r}; choose one of {', '.join(CONTROLLERS)}")


@dataclass(frozen=True)
class ParkRun:
    """Result of a park simulation.

    Attributes
    ----------
    controller : str
        Controller name.
    index : pandas.DatetimeIndex
        Simulated interval starts.
    grid_kwh : numpy.ndarray
        Park import per step [kWh].
    battery_kwh, ev_kwh, jobs_kwh : numpy.ndarray
        ESS, EV fleet and job energy per step [kWh].
    ev_delivered : dict
        Vehicle id -> (stored at departure, required) [kWh], departed vehicles only.
    jobs_done : dict
        Job id -> (finished step or -1, deadline).
    bill : MonthlyBill
        Bill of the first simulated month.
    carbon_kg : float
        Emissions of the import [kgCO2].
    limit_violations : int
        Steps whose import exceeded the connection limit.
    solve_seconds : tuple of float
        Solver times of the controller.
    """

    controller: str
    index: pd.DatetimeIndex
    grid_kwh: np.ndarray
    battery_kwh: np.ndarray
    ev_kwh: np.ndarray
    jobs_kwh: np.ndarray
    ev_delivered: dict[str, tuple[float, float]]
    jobs_done: dict[str, tuple[int, int]]
    bill: MonthlyBill
    carbon_kg: float
    limit_violations: int
    solve_seconds: tuple[float, ...]

    @property
    def peak_kw(self) -> float:
        """Largest 15-min import of the run [kW] (every period, not only metered ones)."""
        return float(self.grid_kwh.max() / (self.index[1] - self.index[0]).total_seconds() * 3600)


@dataclass
class _Flows:
    """One step's energies as decided, then as the local guards leave them [kWh]."""

    jobs: dict[str, float]
    new_jobs: dict[str, JobState]
    ev: dict[str, float]
    new_ev: dict[str, float]
    battery_req: np.ndarray
    battery: StepResult | None
    battery_kwh: float
    net: float

    def rerun_battery(self, case: ParkCase, state: ParkState, req: np.ndarray) -> float:
        """The ESS stepped again with ``req``; returns how much its import fell [kWh]."""
        assert case.battery is not None and state.battery is not None
        self.battery = battery_step(case.battery, state.battery, req)
        b_new = float(self.battery.grid_energy_kwh.sum())
        fall = self.battery_kwh - b_new
        self.net -= fall
        self.battery_kwh = b_new
        return fall


def _decided_flows(case: ParkCase, state: ParkState, dec: Decision, t: int) -> _Flows:
    """The step as the controller decided it, through each asset's physics."""
    dt = case.step_hours
    new_jobs: dict[str, JobState] = {}
    job_kwh: dict[str, float] = {}
    for j in _active_jobs(case, state):
        js, p = step_job(j, state.jobs[j.id], j.id in dec.run, t)
        new_jobs[j.id] = js
        job_kwh[j.id] = p * dt
    new_ev: dict[str, float] = {}
    ev_kwh: dict[str, float] = {}
    for v in _active_vehicles(case, t):
        e, g = step_vehicle(v, state.ev_kwh[v.id], dec.ev_kwh.get(v.id, 0.0), t, dt)
        new_ev[v.id], ev_kwh[v.id] = e, g
    bat_res = None
    if case.battery is not None and state.battery is not None:
        bat_res = battery_step(case.battery, state.battery, dec.battery_kwh)
    b_kwh = 0.0 if bat_res is None else float(bat_res.grid_energy_kwh.sum())
    net = case.firm_net_kwh[t] + sum(job_kwh.values()) + sum(ev_kwh.values()) + b_kwh
    req = np.asarray(dec.battery_kwh, dtype=float)
    return _Flows(job_kwh, new_jobs, ev_kwh, new_ev, req, bat_res, b_kwh, net)


def _hold_import_cap(case: ParkCase, state: ParkState, f: _Flows, cap: float) -> None:
    """Peak guard of the ESS's local controller: it measures the import within the step and
    discharges more to hold the controller's import cap."""
    if f.net > cap + LIMIT_TOL_KWH and case.battery is not None and state.battery is not None:
        f.battery_req = f.battery_req - (f.net - cap) / max(f.battery_req.size, 1)
        f.rerun_battery(case, state, f.battery_req)


def _hold_connection_limit(
    case: ParkCase, state: ParkState, f: _Flows, limit: float, t: int
) -> bool:
    """Connection-limit guard: more ESS discharge, then hold back flexible loads.

    Returns True if the import still exceeds the limit (a violation).
    """
    dt = case.step_hours
    excess = f.net - limit
    if case.battery is not None and state.battery is not None:
        req = f.battery_req - excess / max(f.battery_req.size, 1)
        excess -= f.rerun_battery(case, state, req)
    by_id = {v.id: v for v in case.vehicles}
    for vid in list(f.ev):
        if excess <= LIMIT_TOL_KWH:
            break
        v = by_id[vid]
        low = must_charge_kwh(v, state.ev_kwh[vid], t, dt)
        cut = min(max(f.ev[vid] - low, 0.0), excess)
        if cut > 0:
            e, g = step_vehicle(v, state.ev_kwh[vid], f.ev[vid] - cut, t, dt)
            excess -= f.ev[vid] - g
            f.net -= f.ev[vid] - g
            f.new_ev[vid], f.ev[vid] = e, g
    for j in _active_jobs(case, state):
        if excess <= LIMIT_TOL_KWH:
            break
        js = state.jobs[j.id]
        if j.interruptible and f.jobs.get(j.id, 0.0) > 0 and not must_run(j, js, t):
            excess -= f.jobs[j.id]
            f.net -= f.jobs[j.id]
            f.jobs[j.id] = 0.0
            f.new_jobs[j.id] = js
    return f.net > limit + LIMIT_TOL_KWH


def simulate_park(
    case: ParkCase,
    controller: ParkController,
    name: str = "controller",
    on_step: Callable[[int], None] | None = None,
) -> ParkRun:
    """Replay ``case.sim_start .. case.sim_end`` with ``controller`` in the loop.

    Raises
    ------
    DataError
        If a job cannot meet its deadline (infeasible input).
    """
    dt = case.step_hours
    t0, t1 = case.sim_start, case.sim_end
    n = t1 - t0
    metered = _metered(case)
    limit = np.inf if case.limit_kw is None else case.limit_kw * dt
    state = ParkState(
        step=t0,
        battery=None if case.battery is None else initial_state(case.battery),
        ev_kwh={v.id: v.arrival_kwh for v in case.vehicles},
        jobs={j.id: JobState() for j in case.jobs},
    )
    grid, bat_e, ev_e, job_e = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    delivered: dict[str, tuple[float, float]] = {}
    done: dict[str, tuple[int, int]] = {}
    violations = 0
    job_by_id = {j.id: j for j in case.jobs}
    month = pd.Period(case.index[t0], "M")
    for i in range(n):
        t = t0 + i
        state.step = t
        dec = controller.decide(case, state)
        f = _decided_flows(case, state, dec, t)
        if dec.import_cap_kwh is not None and metered[t]:
            _hold_import_cap(case, state, f, dec.import_cap_kwh)
        if f.net > limit + LIMIT_TOL_KWH:
            violations += _hold_connection_limit(case, state, f, limit, t)
        state.jobs.update(f.new_jobs)
        state.ev_kwh.update(f.new_ev)
        if f.battery is not None:
            state.battery = f.battery.state
        for v in case.vehicles:
            if v.departure == t + 1:
                delivered[v.id] = (state.ev_kwh[v.id], v.required_kwh)
        for jid, js in f.new_jobs.items():
            job = job_by_id[jid]
            if js.done == job.duration and jid not in done:
                done[jid] = (t, job.deadline)
        g = max(f.net, 0.0)
        grid[i], bat_e[i] = g, f.battery_kwh
        ev_e[i], job_e[i] = sum(f.ev.values()), sum(f.jobs.values())
        if metered[t] and pd.Period(case.index[t], "M") == month:
            state.month_max_kw = max(state.month_max_kw, g / dt)
        if on_step is not None:
            on_step(i)
    index = case.index[t0:t1]
    bills = compute_bills(
        case.tariff,
        pd.Series(grid, index=index),
        contract_kw=case.contract_kw,
        meter=case.site.site.id,
    )
    return ParkRun(
        controller=name,
        index=index,
        grid_kwh=grid,
        battery_kwh=bat_e,
        ev_kwh=ev_e,
        jobs_kwh=job_e,
        ev_delivered=delivered,
        jobs_done=done,
        bill=bills[0],
        carbon_kg=float((grid * case.carbon[t0:t1]).sum()),
        limit_violations=violations,
        solve_seconds=tuple(getattr(controller, "solve_seconds", ())),
    )


def with_days(case: ParkCase, days: int) -> ParkCase:
    """The same case simulating only its first ``days`` days."""
    return replace(case, sim_end=min(case.sim_end, case.sim_start + days * case.steps_per_day))


def park_table(runs: list[ParkRun]) -> list[dict[str, float | str | int]]:
    """One row per run: bill lines [KRW], peak [kW], carbon [kgCO2], checks.

    ``energy_krw`` is the energy charge with its per-kWh adders and discounts, ``demand_krw``
    the demand charge (and any contract excess), both before fund and VAT; ``total_krw`` is
    the amount billed (taxes included).
    """
    rows: list[dict[str, float | str | int]] = []
    for r in runs:
        b = r.bill
        demand = sum(ln.amount for ln in b.lines if ln.code.startswith("demand"))
        energy = sum(ln.amount for ln in b.lines if not ln.code.startswith("demand"))
        rows.append(
            {
                "controller": r.controller,
                "energy_krw": float(energy),
                "demand_krw": float(demand),
                "total_krw": float(b.total),
                "peak_kw": round(float(b.max_demand_kw), 1),
                "max_import_kw": round(r.peak_kw, 1),
                "carbon_kg": round(r.carbon_kg, 1),
                "import_kwh": round(float(r.grid_kwh.sum()), 1),
                "limit_violations": r.limit_violations,
                "ev_short": sum(1 for e, q in r.ev_delivered.values() if e < q - 1e-6),
                "jobs_late": sum(1 for f, d in r.jobs_done.values() if f >= d),
            }
        )
    return rows
