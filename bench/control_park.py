"""Replay of the sample industrial park (data/industrial_park) with a synthetic afternoon peak.

The park's 15-min profiles (tenants, data centre firm load, rooftop PV) are written to an
in-memory store as 5-min meter readings (each 15-min value over its three 5-min readings) of a
copy of the site with 5-min meters and a park grid meter; on weekdays tenant ``plant1`` gets
``--bump`` kW more from 14:05 to 15:00 local (starting inside a window, as a real surprise
does). EV sessions and deferrable jobs (data-centre GPU jobs included, non-flat profiles
flattened to their mean) come from the park files.

The **target** is the uncontrolled peak of the same period *without* the bump (the peak the
month would have had anyway). With the bump, three runs: no control, the MPC with
the peak watch advisory only (alerts, no actions), and the MPC with peak actions. Reports each
run's peak 15-min window, windows above target, EV energy missing at departure, unfinished jobs,
alerts and peak actions. A fourth row is the **oracle**, a bound and not a controller: one MILP of
the whole period with the actual 15-min load (bump included), every EV session and job known in
advance (:class:`bitgaram.simulate.park.OracleControl`), simulated on the same 15-min case; the
last line gives the share of the oracle's billing-peak reduction (against no control) that each
run achieves.

    .venv/bin/python bench/control_park.py --days 3
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.planner import ParkPlanner, site_battery
from bitgaram.control.replay import (
    ReplayJob,
    ReplayResult,
    ReplayVehicle,
    firm_from_store,
    replay,
)
from bitgaram.peak import PeakWatch
from bitgaram.peak.watch import metered_by
from bitgaram.simulate.park import OracleControl, ParkCase, load_park_case, simulate_park
from bitgaram.site.model import Meter, MeterKind, Unit
from bitgaram.store import open_store


def oracle_peak_kw(case: ParkCase, bump_kw: float) -> float:
    """Billing (metered) peak of the perfect-foresight MILP with the bump in the load [kW]."""
    idx = case.index
    hour = idx.hour + idx.minute / 60
    weekday = idx.day_of_week < 5
    # 15-min mean of +bump from 14:05 to 15:00: 10 of the 14:00 window's 15 minutes.
    frac = np.where((hour >= 14) & (hour < 14.25), 2 / 3, 0.0)
    frac = np.where((hour >= 14.25) & (hour < 15), 1.0, frac)
    firm = case.firm_kw.copy()
    firm["plant1"] = firm["plant1"] + np.where(weekday, bump_kw * frac, 0.0)
    bumped = replace(case, firm_kw=firm)
    run = simulate_park(bumped, OracleControl(bumped), "oracle")
    excluded = list(case.tariff.demand_rules.excluded_periods)
    metered = ~np.isin(case.tariff.period(idx[case.sim_start : case.sim_end]), excluded)
    return float(run.grid_kwh[metered].max() / case.step_hours)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--bump", type=float, default=800.0, help="Afternoon bump [kW].")
    ap.add_argument("--horizon", type=int, default=16)
    args = ap.parse_args()
    case = load_park_case("data/industrial_park", month="2026-06", days=args.days)
    tz = case.site.site.timezone
    site = case.site
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
        if tenant == "plant1":
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
    bat = site_battery(site, 0.25)
    assert bat is not None
    metered = metered_by(case.tariff, tz)

    def run(series: pd.Series, act: bool | None, target: float) -> tuple[ReplayResult, ControlLoop]:
        loop = ControlLoop(
            PeakWatch(site, targets={"park": target}, metered=metered),
            ParkPlanner(site, case.tariff, horizon=args.horizon, history_kw=history),
            lambda t, p: None,
            MemoryJournal(),
            (bat[0],),
            float(bat[1].nominal_power_kw),
            LoopConfig(act=bool(act), limit_kw=site.site.connection_limit_kw),
        )
        res = replay(
            site,
            series,
            vans,
            jobs,
            loop=None if act is None else loop,
            tenant_readings=raw,
            metered=metered,
        )
        return res, loop

    # Target: the uncontrolled peak without the surprise.
    ref, _ = run(flat, None, 0.0)
    target = ref.metered_peak_kw
    none, _ = run(firm, None, target)
    mpc, mpc_loop = run(firm, False, target)
    tic = time.perf_counter()
    watch, loop = run(firm, True, target)
    wall = time.perf_counter() - tic
    print(
        f"period {local[0]} .. {local[-1]} ({args.days} days, {len(vans)} EV sessions, "
        f"{len(jobs)} jobs, bump {args.bump:g} kW on weekdays 14:05-15:00 local)"
    )
    limit = site.site.connection_limit_kw or float("inf")
    print(f"target = uncontrolled billing peak without the bump: {target:,.1f} kW")
    print(f"connection limit {limit:,.0f} kW; billing peak = largest metered window")
    print(
        f"{'controller':22s} {'billing_peak_kw':>15s} {'vs_none':>8s} {'all_windows_kw':>14s} "
        f"{'over_target':>11s} {'over_limit':>10s} {'ev_short_kwh':>12s} {'jobs_late':>9s} "
        f"{'alerts':>6s} {'actions':>7s}"
    )
    for name, r, lp in (
        ("none", none, None),
        ("mpc (advisory watch)", mpc, mpc_loop),
        ("mpc + peak actions", watch, loop),
    ):
        mask = np.array([metered(w) for w in r.windows_kw.index])
        over = int((r.windows_kw[mask] > target * 1.005).sum())
        over_limit = int((r.windows_kw > limit * 1.005).sum())
        alerts = lp.stats.alerts if lp else 0
        actions = lp.stats.actions if lp else 0
        print(
            f"{name:22s} {r.metered_peak_kw:15.1f} "
            f"{r.metered_peak_kw / none.metered_peak_kw - 1:+8.1%} {r.peak_kw:14.1f} "
            f"{over:11d} {over_limit:10d} {r.ev_shortfall_kwh:12.2f} {r.jobs_unfinished:9d} "
            f"{alerts:6d} {actions:7d}"
        )
    tic = time.perf_counter()
    oracle = oracle_peak_kw(case, args.bump)
    print(
        f"{'oracle (a bound)':22s} {oracle:15.1f} {oracle / none.metered_peak_kw - 1:+8.1%} "
        f"(perfect-foresight MILP of the period, {time.perf_counter() - tic:.0f} s)"
    )
    cut = none.metered_peak_kw - oracle
    shares = ", ".join(
        f"{name} {(none.metered_peak_kw - r.metered_peak_kw) / cut:.1%}"
        for name, r in (("mpc alone", mpc), ("loop", watch))
    )
    print(f"share of the oracle's billing-peak reduction: {shares}")
    print(
        f"loop with actions: {loop.stats.plans} plans, {loop.stats.fallbacks} fallbacks; "
        f"replay {wall:.1f} s ({wall / loop.stats.ticks * 1e3:.0f} ms per interval)"
    )


if __name__ == "__main__":
    main()
