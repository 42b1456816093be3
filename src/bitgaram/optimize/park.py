"""One scheduling problem for the whole park under its shared connection limit.

Energy balance at the park connection, per step ``t`` of the horizon [kWh]::

    grid[t] - spill[t] = firm[t] + ESS(c - d)[t] + EVs(c - d)[t] + jobs[t] - overload[t]

``firm`` is the tenants' inflexible load minus rooftop PV plus committed job
profiles (a forecast in MPC). ``grid`` is the import, bounded by the
**connection limit** (``0 <= grid <= limit dt``, a hard column bound); ``spill``
is surplus PV, which earns nothing (KEPCO industrial tariffs do not credit
export). ``overload`` is an emergency slack priced at :data:`OVERLOAD_PENALTY`:
it is non-zero only when the firm forecast alone cannot be kept under the limit
with every flexible asset at its limit, so the controller still returns a plan
(and says so) instead of failing; the simulator's limit guard then acts.

Objective [KRW]: energy rate x grid + carbon price x carbon intensity x grid +
the demand-charge term (:mod:`bitgaram.optimize.demand`) + battery wear - the
value of the energy left in the ESS at the horizon end: the cost-to-go of the steps
beyond the horizon (:mod:`bitgaram.optimize.cost_to_go`) when given, else the horizon's
lowest energy rate (what refilling it would cost).

Blocks: the shared ESS (:mod:`bitgaram.optimize.battery`), the EV fleet
(:mod:`bitgaram.optimize.ev`), the deferrable jobs, MILP
(:mod:`bitgaram.optimize.jobs`), data-centre GPU jobs among them
(:mod:`bitgaram.optimize.datacentre`).

Fair split of the savings (:func:`split_savings`): each **member** (a tenant,
owning its vehicles and jobs; ``"park"`` owning the shared ESS) gets a share of
the park's saving proportional to its **marginal contribution**, the rise of
the optimal cost when only that member's flexibility is frozen (vehicles charge
on arrival, jobs start as early as allowed, the ESS idles) while the others stay
optimised. Negative contributions count as zero; if no member contributes, the
saving is split equally. This is the leave-one-out approximation of the Shapley
value (n + 2 solves instead of 2^n); it rewards flexibility that is scarce in
the park, and a member that brings nothing gets nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from bitgaram.assets.battery import BatteryParams
from bitgaram.assets.ev import Vehicle, asap_kwh, step_vehicle
from bitgaram.assets.jobs import Job, JobState, remaining
from bitgaram.errors import SolveError
from bitgaram.optimize.battery import BatteryBlock, add_battery_block
from bitgaram.optimize.cost_to_go import CostToGoCurve, cost_to_go_rows
from bitgaram.optimize.demand import add_demand_term
from bitgaram.optimize.ev import EVBlock, add_ev_block
from bitgaram.optimize.jobs import JobBlock, add_job_block, committed_kw
from bitgaram.optimize.problem import INF, HighsSession, LinearProgram, Term
from bitgaram.tariff.marginal import DemandChargeSlope

#: Cost of planned energy above the connection limit [KRW/kWh]: far above any tariff rate
#: (10^2 KRW/kWh) and demand charge per kWh of a 15-min step (10^5), so it is a last resort.
OVERLOAD_PENALTY = 1e7

#: HiGHS MIP settings. The gap is absolute (1,000 KRW, a few kWh of energy or 0.1 kW of
#: monthly demand): a relative gap would scale with the firm load's cost, which no decision
#: changes (0.1 % of a month's 3e8 KRW is more than many decisions are worth). The time
#: limit keeps a controller step bounded.
MIP_OPTIONS: dict[str, float | int | bool | str] = {
    "mip_rel_gap": 1e-9,
    "mip_abs_gap": 1e3,
    "time_limit": 60.0,
}

#: Name of the member owning shared assets (the ESS) in :func:`split_savings`.
PARK_MEMBER = "park"


@dataclass(frozen=True)
class ParkInputs:
    """Data of one park solve over H steps.

    Attributes
    ----------
    start : int
        Absolute step of the first horizon step.
    step_hours : float
        Step length [h] (0.25 for 15-min demand).
    firm_kwh : numpy.ndarray
        Inflexible net load (loads - PV) per step [kWh], (H,); committed jobs are added.
    energy_rate : numpy.ndarray
        Energy price per step [KRW/kWh], (H,).
    carbon : numpy.ndarray
        Grid carbon intensity per step [kgCO2/kWh], (H,).
    metered : numpy.ndarray
        Boolean (H,): steps whose demand counts for the demand charge.
    demand : DemandChargeSlope or None
        Demand charge of the month as a function of its peak; None = no demand term.
    limit_kw : float, numpy.ndarray or None
        Import limit [kW]: the connection limit, or one value per step (H,) where
        demand-response caps lower it for some steps (``inf``: no limit that step).
    battery : BatteryParams or None
        Shared ESS (fleet), ``step_hours`` equal to the park's.
    battery_soc_kwh : numpy.ndarray or None
        ESS stored energy now [kWh], (B,).
    vehicles : tuple of (Vehicle, float)
        Known vehicles with their stored energy now [kWh].
    jobs : tuple of (Job, JobState)
        Known jobs with their progress.
    carbon_price : float
        Price of emissions in the objective [KRW/kgCO2].
    wear_cost : float
        Battery and V2G wear per kWh discharged [KRW/kWh].
    margin_kw : numpy.ndarray or None
        Load above the firm forecast the plan stays ready for, per step [kW], (H,) (e.g. an
        upper quantile of the forecaster's recent errors,
        :class:`bitgaram.forecast.residuals.ErrorBook`): the planned import plus it is what
        the demand term prices and what must stay under the connection limit. None = 0.
    reserve_kwh : float
        ESS energy the plan should leave stored at the horizon's end [kWh] (e.g. what the
        load beyond the horizon needs to stay under the billing level,
        :func:`bitgaram.optimize.demand.peak_reserve`); 0 = none.
    reserve_value : float
        Cost of each kWh the final stored energy falls short of ``reserve_kwh`` [KRW/kWh].
    tail_rate : numpy.ndarray or None
        Energy rates of the steps after the horizon [KRW/kWh], (T,) (e.g. the day after it;
        steps beyond cost its mean): what the energy vehicles and jobs leave for after the
        horizon will cost (:func:`bitgaram.optimize.ev.add_ev_block`,
        :func:`bitgaram.optimize.jobs.add_job_block`). None: jobs' later energy at the
        horizon's mean rate, vehicles' at nothing.
    cost_to_go : CostToGoCurve or None
        Cost of the steps beyond the horizon per energy stored at its end
        (:class:`bitgaram.optimize.cost_to_go.CostToGo`): the plan pays
        ``C(E_end) - C(full)`` instead of valuing the energy left at the horizon's lowest
        rate. None = that single rate.
    hold_first_kw : float or None
        Level the first step's import (plus its margin) pays the demand rate above [kW], on
        top of the horizon's peak term, if that step is metered: a receding-horizon plan
        executes only its first step, and a peak it plans for later (and may never meet) must
        not make a rise now free. None = no such term.
    """

    start: int
    step_hours: float
    firm_kwh: np.ndarray
    energy_rate: np.ndarray
    carbon: np.ndarray
    metered: np.ndarray
    demand: DemandChargeSlope | None = None
    limit_kw: float | np.ndarray | None = None
    battery: BatteryParams | None = None
    battery_soc_kwh: np.ndarray | None = None
    vehicles: tuple[tuple[Vehicle, float], ...] = ()
    jobs: tuple[tuple[Job, JobState], ...] = ()
    carbon_price: float = 0.0
    wear_cost: float = 1.0
    margin_kw: np.ndarray | None = None
    reserve_kwh: float = 0.0
    reserve_value: float = 0.0
    hold_first_kw: float | None = None
    tail_rate: np.ndarray | None = None
    cost_to_go: CostToGoCurve | None = None

    @property
    def horizon(self) -> int:
        """Steps H."""
        return int(np.asarray(self.firm_kwh).size)


@dataclass(frozen=True)
class ParkPlan:
    """Solution of a park problem.

    Attributes
    ----------
    grid_kwh : numpy.ndarray
        Planned import per step [kWh], (H,).
    battery_kwh : numpy.ndarray
        ESS grid energy (+ charge) per battery and step [kWh], (B, H).
    ev_kwh : dict
        Vehicle id -> planned grid energy per step [kWh], (H,).
    jobs_now : dict
        Job id -> whether it runs (or starts) in the first step.
    job_plan : dict
        Job id -> steps it runs (interruptible) or starts (non-interruptible), bool (H,).
    job_kwh : numpy.ndarray
        Planned job energy per step [kWh], (H,).
    peak_kw : float
        Planned peak of metered steps [kW] (0 without a demand term).
    overload_kwh : float
        Planned energy above the connection limit [kWh] (0 unless the firm forecast alone
        exceeds it).
    objective : float
        Optimal cost [KRW].
    """

    grid_kwh: np.ndarray
    battery_kwh: np.ndarray
    ev_kwh: dict[str, np.ndarray]
    jobs_now: dict[str, bool]
    job_plan: dict[str, np.ndarray]
    job_kwh: np.ndarray
    peak_kw: float
    overload_kwh: float
    objective: float
    extra: dict[str, float] = field(default_factory=dict)


def firm_with_commitments(inputs: ParkInputs) -> np.ndarray:
    """Firm load plus started non-interruptible jobs' remaining profiles [kWh], (H,)."""
    firm = np.asarray(inputs.firm_kwh, dtype=float).copy()
    for job, state in inputs.jobs:
        if state.started and not job.interruptible and remaining(job, state) > 0:
            firm += committed_kw(job, state, inputs.start, inputs.horizon) * inputs.step_hours
    return firm


def solve_park(
    inputs: ParkInputs, options: Mapping[str, float | int | bool | str] | None = None
) -> ParkPlan:
    """Build and solve the park problem over the horizon.

    Raises
    ------
    DataError
        A vehicle or job that cannot meet its requirement (named), before solving.
    SolveError
        If HiGHS fails.
    """
    h = inputs.horizon
    dt = inputs.step_hours
    lp = LinearProgram()
    rate = np.asarray(inputs.energy_rate, dtype=float)
    grid_cost = rate + inputs.carbon_price * np.asarray(inputs.carbon, dtype=float)
    margin = np.zeros(h) if inputs.margin_kw is None else np.asarray(inputs.margin_kw, float)
    margin = np.maximum(margin, 0.0)
    ub = INF if inputs.limit_kw is None else np.maximum(inputs.limit_kw - margin, 0.0) * dt
    grid = lp.add_variables((h,), 0.0, ub, cost=grid_cost)
    spill = lp.add_variables((h,), 0.0)
    overload = lp.add_variables((h,), 0.0, cost=OVERLOAD_PENALTY)
    rows = np.arange(h)
    terms: list[Term] = [(rows, grid, 1.0), (rows, spill, -1.0), (rows, overload, 1.0)]

    bat: BatteryBlock | None = None
    if inputs.battery is not None:
        bat = add_battery_block(lp, inputs.battery, h)
        lp.cost[-3] += inputs.wear_cost * 0.5  # charge columns
        lp.cost[-2] += inputs.wear_cost * 0.5  # discharge columns
        for cols, sign in bat.grid_terms():
            terms.append((np.broadcast_to(rows, cols.shape), cols, -sign))
    tail = None if inputs.tail_rate is None else np.asarray(inputs.tail_rate, dtype=float)
    evb: EVBlock = add_ev_block(
        lp, inputs.vehicles, inputs.start, h, dt, inputs.wear_cost, tail_rate=tail
    )
    for t, c, k in evb.bus_terms():
        terms.append((t, c, -k))
    jb: JobBlock = add_job_block(
        lp, inputs.jobs, inputs.start, h, dt, float(rate.mean()) if tail is None else tail
    )
    for t, c, k in jb.bus_terms():
        terms.append((t, c, -np.asarray(k)))
    firm = firm_with_commitments(inputs)
    lp.add_rows(h, terms, lb=firm, ub=firm)
    demand = None
    if inputs.demand is not None:
        demand = add_demand_term(lp, grid, inputs.demand, inputs.metered, dt, margin)

    hold = inputs.hold_first_kw
    if inputs.demand is not None and hold is not None and h and bool(inputs.metered[0]):
        over_now = int(lp.add_variables((1,), 0.0, cost=inputs.demand.rate)[0])
        lp.add_rows(
            1, [(0, int(grid[0]), 1.0 / dt), (0, over_now, -1.0)], ub=hold - float(margin[0])
        )
    if bat is not None and inputs.reserve_kwh > 0 and inputs.reserve_value > 0:
        # short >= reserve - final stored energy: a soft floor, so a plan that cannot reach
        # the reserve within the horizon still exists.
        short = int(lp.add_variables((1,), 0.0, cost=inputs.reserve_value)[0])
        ends = bat.soc[:, -1]
        lp.add_rows(
            1, [(np.zeros(ends.size, int), ends, 1.0), (0, short, 1.0)], lb=inputs.reserve_kwh
        )
    if bat is not None and inputs.cost_to_go is not None:
        cost_to_go_rows(lp, bat.soc[:, -1], inputs.cost_to_go)
    cost, col_lb, col_ub, row_lb, row_ub = lp.arrays()
    if bat is not None and inputs.battery is not None:
        soc = np.asarray(
            inputs.battery_soc_kwh
            if inputs.battery_soc_kwh is not None
            else inputs.battery.initial_soc_kwh,
            dtype=float,
        )
        soc = np.broadcast_to(soc, (bat.n_batteries,)).copy()
        bat.apply_state(col_lb, col_ub, row_lb, row_ub, soc, bat.model.capacity_kwh)
        if inputs.cost_to_go is None:
            cost[bat.soc[:, -1]] -= float(rate.min()) * bat.model.eta_discharge
    session = HighsSession(lp, options=dict(options or MIP_OPTIONS))
    session.update(cost, col_lb, col_ub, row_lb, row_ub)
    sol = session.solve()
    x = sol.x
    battery_kwh = np.zeros((0, h))
    if bat is not None:
        battery_kwh = x[bat.charge] - x[bat.discharge]
    ev = evb.grid_kwh(x, h)
    return ParkPlan(
        grid_kwh=x[grid],
        battery_kwh=battery_kwh,
        ev_kwh={v.id: ev[i] for i, v in enumerate(evb.vehicles)},
        jobs_now=dict(zip([j.id for j in jb.jobs], jb.runs_now(x), strict=True)),
        job_plan=jb.run_plan(x, h),
        job_kwh=jb.kwh(x, h, dt),
        peak_kw=float(x[demand.peak]) if demand is not None else 0.0,
        overload_kwh=float(x[overload].sum()),
        objective=float(sol.objective),
    )


def frozen_profile(
    inputs: ParkInputs, vehicles: bool, jobs: bool, member: str | None
) -> ParkInputs:
    """Inputs with the flexibility of ``member`` (None: everyone) replaced by fixed behaviour.

    Frozen vehicles charge at full power from arrival; frozen jobs run as early as allowed;
    both move into the firm load. ``vehicles``/``jobs`` select what is frozen.
    """
    h, dt, t0 = inputs.horizon, inputs.step_hours, inputs.start
    firm = np.asarray(inputs.firm_kwh, dtype=float).copy()
    keep_v: list[tuple[Vehicle, float]] = []
    for v, stored in inputs.vehicles:
        if vehicles and (member is None or v.tenant == member):
            e = stored
            for k in range(h):
                e, g = step_vehicle(v, e, asap_kwh(v, e, t0 + k, dt), t0 + k, dt)
                firm[k] += g
        else:
            keep_v.append((v, stored))
    keep_j: list[tuple[Job, JobState]] = []
    for job, state in inputs.jobs:
        if jobs and (member is None or job.tenant == member) and remaining(job, state) > 0:
            if state.started and not job.interruptible:
                keep_j.append((job, state))
                continue
            rest = job.power_kw[state.done :]
            first = max(job.earliest, t0) - t0
            for k, p in enumerate(rest):
                if 0 <= first + k < h:
                    firm[first + k] += p * dt
        else:
            keep_j.append((job, state))
    return replace(inputs, firm_kwh=firm, vehicles=tuple(keep_v), jobs=tuple(keep_j))


def _frozen(inputs: ParkInputs, member: str | None) -> ParkInputs:
    out = frozen_profile(inputs, True, True, member)
    if member is None or member == PARK_MEMBER:
        out = replace(out, battery=None, battery_soc_kwh=None)
    return out


@dataclass(frozen=True)
class SavingsSplit:
    """The park's saving and its split to members.

    Attributes
    ----------
    baseline_cost, optimised_cost : float
        Cost with all flexibility frozen (or the optimised cost plus a given saving), and
        the optimal cost [KRW].
    contribution : dict
        Member -> marginal contribution (cost rise when only it is frozen) [KRW].
    share : dict
        Member -> its part of the saving [KRW]; the parts sum to the saving.
    """

    baseline_cost: float
    optimised_cost: float
    contribution: dict[str, float]
    share: dict[str, float]

    @property
    def saving(self) -> float:
        """Park saving [KRW]."""
        return self.baseline_cost - self.optimised_cost


def split_savings(
    inputs: ParkInputs,
    members: Sequence[str],
    saving: float | None = None,
    options: Mapping[str, float | int | bool | str] | None = None,
) -> SavingsSplit:
    """Split the park's optimisation saving to members by marginal contribution.

    Parameters
    ----------
    inputs : ParkInputs
        The park problem (e.g. a day or month with perfect data).
    members : sequence of str
        Tenant ids (owners of vehicles and jobs) and, for the shared ESS, ``"park"``.
    saving : float, optional
        The saving to split [KRW], e.g. the realised bill saving of a simulated month;
        default: the optimal cost with every member frozen minus the optimal cost.
    options : Mapping, optional
        HiGHS options of every solve (default :data:`MIP_OPTIONS`).

    Returns
    -------
    SavingsSplit
        See the module docstring for the rule.

    Raises
    ------
    SolveError
        If ``saving`` is not given and the frozen behaviour alone breaks the connection limit
        (its cost is then the overload penalty, not a bill): give the realised saving.
    """
    best = solve_park(inputs, options).objective
    frozen = solve_park(_frozen(inputs, None), options)
    if saving is None and frozen.overload_kwh > 0:
        raise SolveError(
            "with every member frozen the park exceeds its connection limit "
            f"({frozen.overload_kwh:,.0f} kWh over): pass the realised saving to split"
        )
    base = frozen.objective if saving is None else best + saving
    contrib = {
        m: max(solve_park(_frozen(inputs, m), options).objective - best, 0.0) for m in members
    }
    total_saving = base - best
    total = sum(contrib.values())
    if total > 0:
        share = {m: total_saving * c / total for m, c in contrib.items()}
    else:
        share = {m: total_saving / len(members) for m in members}
    return SavingsSplit(base, best, contrib, share)
