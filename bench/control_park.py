"""Replay of a sample industrial park (data/industrial_park) with a synthetic afternoon peak.

The park's 15-min profiles (tenants, data centre firm load, rooftop PV) are written to an
in-memory store as 5-min meter readings (each 15-min value over its three 5-min readings) of a
copy of the site with 5-min meters and a park grid meter; on weekdays tenant ``--bump-tenant``
(``plant1``) gets ``--bump`` kW more from 14:05 to 15:00 local (starting inside a window, as a
real surprise does; ``--bump 0``: no surprise). EV sessions and deferrable jobs (data-centre
GPU jobs included, non-flat profiles flattened to their mean) come from the park files.

The **target** is the uncontrolled peak of the same period *without* the bump (the peak the
month would have had anyway). With the bump, four runs: no control, the time-of-use rule
(:class:`bitgaram.control.rule.TouRulePlanner`, its threshold shaving done by the loop's peak
actions), the MPC with the peak watch advisory only (alerts, no actions), and the MPC with peak
actions (the default loop). Reports each run's peak 15-min window, windows above target, EV
energy missing at departure, unfinished jobs, alerts, peak actions, and the month's bill
(:func:`bitgaram.tariff.compute_bills` of the park import, taxes included) with its saving
against no control. A fourth row is the **oracle**, a bound and not a controller: one MILP of
the whole period with the actual 15-min load (bump included), every EV session and job known in
advance (:class:`bitgaram.simulate.park.OracleControl`), simulated on the same 15-min case; the
last line gives the share of the oracle's billing-peak reduction (against no control) that each
run achieves.

    .venv/bin/python bench/control_park.py --days 3
    .venv/bin/python bench/control_park.py --days 30 --bump 0 --park data/industrial_park_b

``--park``: another park directory in the same format, e.g. the second park written by
``bench/make_industrial_park.py --park b``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.planner import DEFAULT_HORIZON, ParkPlanner, Planner, site_battery
from bitgaram.control.replay import (
    ReplayJob,
    ReplayResult,
    ReplayVehicle,
    firm_from_store,
    replay,
)
from bitgaram.control.rule import TouRulePlanner
from bitgaram.errors import ConfigError
from bitgaram.peak import PeakWatch
from bitgaram.peak.watch import metered_by
from bitgaram.simulate.park import OracleControl, ParkCase, load_park_case, simulate_park
from bitgaram.site.model import Meter, MeterKind, Site, Unit
from bitgaram.store import open_store
from bitgaram.tariff import compute_bills


def oracle_run(case: ParkCase, bump_kw: float, tenant: str) -> tuple[float, float]:
    """Billing (metered) peak [kW] and bill [KRW] of the perfect-foresight MILP with the bump."""
    idx = case.index
    hour = idx.hour + idx.minute / 60
    weekday = idx.day_of_week < 5
    # 15-min mean of +bump from 14:05 to 15:00: 10 of the 14:00 window's 15 minutes.
    frac = np.where((hour >= 14) & (hour < 14.25), 2 / 3, 0.0)
    frac = np.where((hour >= 14.25) & (hour < 15), 1.0, frac)
    firm = case.firm_kw.copy()
    if bump_kw:
        firm[tenant] = firm[tenant] + np.where(weekday, bump_kw * frac, 0.0)
    bumped = replace(case, firm_kw=firm)
    run = simulate_park(bumped, OracleControl(bumped), "oracle")
    excluded = list(case.tariff.demand_rules.excluded_periods)
    metered = ~np.isin(case.tariff.period(idx[case.sim_start : case.sim_end]), excluded)
    return float(run.grid_kwh[metered].max() / case.step_hours), float(run.bill.total)


@dataclass
class Bench:
    """Everything the replays share: the park, its 5-min firm load, sessions, jobs."""

    case: ParkCase
    site: Site
    firm: pd.Series
    flat: pd.Series
    raw: pd.DataFrame
    vans: tuple[ReplayVehicle, ...]
    jobs: tuple[ReplayJob, ...]
    history: pd.Series
    metered: Callable[[pd.Timestamp], bool]
    horizon: int
    cost_to_go: bool = True

    def run(
        self, series: pd.Series, planner: str | None, act: bool, target: float
    ) -> tuple[ReplayResult, ControlLoop | None]:
        """Replay ``series`` uncontrolled (``planner=None``), with the rule or the MPC."""
        site, case = self.site, self.case
        bat = site_battery(site, 0.25)
        assert bat is not None
        chosen: Planner
        if planner == "rule":
            chosen = TouRulePlanner(site, case.tariff)
        else:
            chosen = ParkPlanner(
                site,
                case.tariff,
                horizon=self.horizon,
                history_kw=self.history,
                cost_to_go=self.cost_to_go,
            )
        loop = ControlLoop(
            PeakWatch(site, targets={"park": target}, metered=self.metered),
            chosen,
            lambda t, p: None,
            MemoryJournal(),
            (bat[0],),
            float(bat[1].nominal_power_kw),
            LoopConfig(act=act, limit_kw=site.site.connection_limit_kw),
        )
        res = replay(
            site,
            series,
            self.vans,
            self.jobs,
            loop=None if planner is None else loop,
            tenant_readings=self.raw,
            metered=self.metered,
        )
        return res, None if planner is None else loop

    def bill_krw(self, r: ReplayResult) -> float:
        """The month's bill of a replay's park import [KRW], taxes included."""
        tz = self.site.site.timezone
        kwh = r.windows_kw * 0.25
        kwh.index = pd.DatetimeIndex(kwh.index).tz_convert(tz).tz_localize(None)
        bills = compute_bills(
            self.case.tariff, kwh, contract_kw=self.case.contract_kw, meter=self.site.site.id
        )
        return float(bills[0].total)


def prepare(args: argparse.Namespace) -> Bench:
    """Load the park, write its readings to a store, read the firm load back."""
    case = load_park_case(args.park, month=args.month, days=args.days)
    tz = case.site.site.timezone
    site = case.site
    if args.bump and args.bump_tenant not in case.firm_kw.columns:
        raise ConfigError(
            f"{args.park}: no tenant {args.bump_tenant!r} for the bump; "
            f"choose one of {', '.join(case.firm_kw.columns)}"
        )
    meters = []
    for m in site.meters:
        meters.append(m.model_copy(update={"resolution": "5min"}))
    meters.append(
        Meter(id="park-grid", kind=MeterKind.GRID_IMPORT, unit=Unit.KWH, resolution="5min")
    )
    site = site.model_copy(update={"meters": tuple(meters)})
    t0, t1 = case.sim_start, case.sim_end
    local = case.index[t0:t1]
    utc15 = local.tz_localize(tz).tz_convert("UTC")
    utc5 = pd.DatetimeIndex(np.repeat(utc15.to_numpy(), 3)) + pd.to_timedelta(
        np.tile([0, 5, 10], len(utc15)), unit="min"
    )
    loc5 = utc5.tz_convert(tz)
    hour = loc5.hour + loc5.minute / 60
    weekday = loc5.day_of_week < 5
    bump = np.where(weekday & (hour >= 14 + 5 / 60) & (hour < 15), args.bump, 0.0)
    columns = {f"{t.id}-load": t.id for t in site.tenants}
    rows = []
    for meter_id, tenant in columns.items():
        kw = np.repeat(case.firm_kw[tenant].to_numpy()[t0:t1], 3)
        if tenant == args.bump_tenant:
            kw = kw + bump
        rows.append(pd.DataFrame({"meter_id": meter_id, "ts": utc5, "value": kw * 5 / 60}))
    pv = np.repeat(case.pv_kw[t0:t1], 3)
    rows.append(pd.DataFrame({"meter_id": "rooftop-pv", "ts": utc5, "value": pv * 5 / 60}))
    readings = pd.concat(rows, ignore_index=True)
    readings["quality"] = 0

    def at(step: int) -> pd.Timestamp:
        return utc15[0] + pd.Timedelta(minutes=15 * (step - t0))

    vans = tuple(
        ReplayVehicle(
            v.id,
            at(v.arrival),
            at(v.departure),
            v.arrival_kwh,
            v.required_kwh,
            v.capacity_kwh,
            v.charger_kw,
            v.efficiency,
        )
        for v in case.vehicles
    )
    jobs = tuple(
        ReplayJob(
            j.id,
            float(np.mean(j.power_kw)),
            j.duration,
            at(max(j.earliest, t0)),
            at(j.deadline),
            j.interruptible,
        )
        for j in case.jobs
        if j.deadline - max(j.earliest, t0) >= j.duration
    )
    with open_store(":memory:") as store:
        store.save_site(site)
        store.write_readings(readings)
        firm, raw = firm_from_store(store, site, utc5[0], utc5[-1] + pd.Timedelta(minutes=5))
    flat = firm - pd.Series(bump, index=utc5)
    # What the store would hold before the month: the case's firm load (tenants - PV) of the
    # weeks before it, at the planner's 15-min intervals (UTC).
    before = case.index[:t0].tz_localize(tz).tz_convert("UTC")
    history = pd.Series(
        case.firm_kw.sum(axis=1).to_numpy()[:t0] - case.pv_kw[:t0], index=before, dtype=float
    )
    metered = metered_by(case.tariff, tz)
    return Bench(
        case, site, firm, flat, raw, vans, jobs, history, metered, args.horizon, not args.reserve
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--bump", type=float, default=800.0, help="Afternoon bump [kW].")
    ap.add_argument("--bump-tenant", default="plant1", help="Tenant whose load the bump raises.")
    ap.add_argument(
        "--horizon", type=int, default=DEFAULT_HORIZON, help="MPC horizon [15-min steps]."
    )
    ap.add_argument(
        "--runs",
        default="rule,mpc,loop,oracle",
        help="Runs beside no control: rule, mpc (advisory watch), loop (mpc + peak actions), "
        "oracle.",
    )
    ap.add_argument(
        "--reserve",
        action="store_true",
        help="Plan with the reserve instead of the cost-to-go (the earlier planner).",
    )
    ap.add_argument("--park", default="data/industrial_park", help="Park directory.")
    ap.add_argument("--month", default="2026-06", help="Simulated month (YYYY-MM).")
    args = ap.parse_args()
    b = prepare(args)
    # Target: the uncontrolled peak without the surprise.
    ref, _ = b.run(b.flat, None, False, 0.0)
    target = ref.metered_peak_kw
    none = ref if args.bump == 0 else b.run(b.firm, None, False, target)[0]
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(runs) - {"rule", "mpc", "loop", "oracle"}
    if unknown:
        raise ConfigError(f"--runs: unknown run(s) {', '.join(sorted(unknown))}")
    rows: list[tuple[str, ReplayResult, ControlLoop | None]] = [("none", none, None)]
    wall = None
    loop = None
    for key, name, planner, act in (
        ("rule", "tou rule", "rule", True),
        ("mpc", "mpc (advisory watch)", "mpc", False),
        ("loop", "mpc + peak actions", "mpc", True),
    ):
        if key not in runs:
            continue
        tic = time.perf_counter()
        result, ran = b.run(b.firm, planner, act, target)
        rows.append((name, result, ran))
        if key == "loop":
            wall, loop = time.perf_counter() - tic, ran
    local = b.case.index[b.case.sim_start : b.case.sim_end]
    surprise = (
        f"bump {args.bump:g} kW on weekdays 14:05-15:00 local ({args.bump_tenant})"
        if args.bump
        else "no bump"
    )
    planner_kind = "reserve" if args.reserve else "cost-to-go"
    print(
        f"park {args.park}: period {local[0]} .. {local[-1]} ({args.days} days, "
        f"{len(b.vans)} EV sessions, {len(b.jobs)} jobs, {surprise}); "
        f"MPC horizon {args.horizon} steps, {planner_kind}"
    )
    limit = b.site.site.connection_limit_kw or float("inf")
    print(f"target = uncontrolled billing peak without the bump: {target:,.1f} kW")
    print(f"connection limit {limit:,.0f} kW; billing peak = largest metered window")
    print(
        f"{'controller':22s} {'billing_peak_kw':>15s} {'vs_none':>8s} {'all_windows_kw':>14s} "
        f"{'over_target':>11s} {'over_limit':>10s} {'ev_short_kwh':>12s} {'jobs_late':>9s} "
        f"{'alerts':>6s} {'actions':>7s} {'bill_krw':>13s} {'saving':>7s}"
    )
    bill_none = b.bill_krw(none)
    for name, r, lp in rows:
        mask = np.array([b.metered(w) for w in r.windows_kw.index])
        over = int((r.windows_kw[mask] > target * 1.005).sum())
        over_limit = int((r.windows_kw > limit * 1.005).sum())
        alerts = lp.stats.alerts if lp else 0
        actions = lp.stats.actions if lp else 0
        bill = b.bill_krw(r)
        print(
            f"{name:22s} {r.metered_peak_kw:15.1f} "
            f"{r.metered_peak_kw / none.metered_peak_kw - 1:+8.1%} {r.peak_kw:14.1f} "
            f"{over:11d} {over_limit:10d} {r.ev_shortfall_kwh:12.2f} {r.jobs_unfinished:9d} "
            f"{alerts:6d} {actions:7d} {bill:13,.0f} {1 - bill / bill_none:7.2%}"
        )
    if "oracle" in runs:
        tic = time.perf_counter()
        oracle, oracle_bill = oracle_run(b.case, args.bump, args.bump_tenant)
        print(
            f"{'oracle (a bound)':22s} {oracle:15.1f} {oracle / none.metered_peak_kw - 1:+8.1%} "
            f"(perfect-foresight MILP of the period, 15-min simulation, bill {oracle_bill:,.0f}, "
            f"{time.perf_counter() - tic:.0f} s)"
        )
        cut = none.metered_peak_kw - oracle
        labels = {"tou rule": "tou rule", "mpc (advisory watch)": "mpc alone"}
        shares = ", ".join(
            f"{labels.get(name, 'loop')} {(none.metered_peak_kw - r.metered_peak_kw) / cut:.1%}"
            for name, r, _ in rows[1:]
        )
        print(f"share of the oracle's billing-peak reduction: {shares}")
    if loop is not None and wall is not None:
        print(
            f"loop with actions: {loop.stats.plans} plans, {loop.stats.fallbacks} fallbacks; "
            f"replay {wall:.1f} s ({wall / loop.stats.ticks * 1e3:.0f} ms per interval)"
        )


if __name__ == "__main__":
    main()
