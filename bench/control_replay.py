"""Replay of the synthetic park (tests/control/park_fixtures.py) with and without the loop.

One day of 5-min readings written to an in-memory store, a +180 kW bump 14:05-15:00 local,
target 600 kW, a 400 kWh / 200 kW ESS, two vans and one interruptible 100 kW job. Reports the
peak 15-min window with and without control, EV shortfall, unfinished jobs, alerts and wall
time.

    .venv/bin/python bench/control_replay.py --days 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "control"))
from park_fixtures import TARGET_KW, park_flex, park_readings, park_site

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.loop import ControlLoop
from bitgaram.control.planner import ParkPlanner
from bitgaram.control.replay import firm_from_store, replay
from bitgaram.peak import PeakWatch
from bitgaram.store import open_store
from bitgaram.tariff import TouTariff, load_tariff


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    site = park_site()
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    print(
        "day        peak_none_kw  peak_ctrl_kw  target_kw  ev_short_kwh  jobs_late  "
        "alerts  actions  wall_s"
    )
    for d in range(args.days):
        day = (pd.Timestamp("2026-08-04") + pd.Timedelta(days=d)).strftime("%Y-%m-%d")
        with open_store(":memory:") as store:
            store.save_site(site)
            store.write_readings(park_readings(day, seed=d))
            start = pd.Timestamp(day, tz="Asia/Seoul").tz_convert("UTC")
            firm, raw = firm_from_store(store, site, start, start + pd.Timedelta(days=1))
        vans, jobs = park_flex(day)
        base = replay(site, firm, vans, jobs)
        loop = ControlLoop(
            PeakWatch(site, targets={"park": TARGET_KW}),
            ParkPlanner(site, tariff, horizon=16),
            lambda t, p: None,
            MemoryJournal(),
            ("ess",),
            200.0,
        )
        res = replay(site, firm, vans, jobs, loop=loop, tenant_readings=raw)
        print(
            f"{day}  {base.peak_kw:12.1f}  {res.peak_kw:12.1f}  {TARGET_KW:9.0f}  "
            f"{res.ev_shortfall_kwh:12.2f}  {res.jobs_unfinished:9d}  {loop.stats.alerts:6d}  "
            f"{loop.stats.actions:7d}  {res.wall_s:6.2f}"
        )


if __name__ == "__main__":
    main()
