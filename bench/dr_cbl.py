"""Time of a DR event's CBL report for a park of 1,000 tenants (API and dashboard figures).

Builds the 1,000-tenant synthetic park of the dashboard bench (``tests/web/parks.py``:
``bitgaram synth``, 62 days of hourly data from 2025-05-01, DuckDB in memory) and times,
``--repeats`` times each, for a 14:00-16:00 (local) event on Wednesday 2025-06-25:

- ``event_report``: what ``GET /api/v1/park/dr/events/{id}/cbl`` computes (store read,
  Mid(6/10) and Max(4/5) for every tenant and the park, :mod:`bitgaram.verify.dr`);
- ``event_report, one tenant``: what a tenant's own route computes;
- ``cbl_rows``: the report alone on the energy already read (one grouping for all members);
- reference, same run and data: :func:`bitgaram.verify.cbl.cbl` called per member and method
  (how the report was formed before: one day matrix per member and method).

The medians [s] and the ratio to the reference are printed; the report's figures are checked
equal to the reference's.

    .venv/bin/python bench/dr_cbl.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))

from parks import synth_store

from bitgaram.verify.cbl import MAX_4_5, MID_6_10, cbl, cbl_rows
from bitgaram.verify.dr import event_report, site_holidays


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    out: object = None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tenants", type=int, default=1000)
    args = ap.parse_args()
    store, tenant, _ = synth_store(tenants=args.tenants)
    site = store.load_site(store.list_sites()[0])
    tz = site.site.timezone
    start = pd.Timestamp("2025-06-25 14:00", tz=tz)
    end = start + pd.Timedelta(hours=2)
    methods = [MID_6_10, MAX_4_5]
    look = pd.Timedelta(days=2 * 2 * 10 + 7)
    frame = store.tenant_totals("load", start - look, end, "1h", site_id=site.site.id)
    energy = frame.pivot(index="ts", columns="tenant_id", values="value")
    holidays = site_holidays(site, range(start.year - 1, start.year + 1))

    def per_member() -> list[float]:
        members = {str(c): energy[c] for c in energy.columns}
        members["park"] = energy.sum(axis=1, min_count=1)
        out = []
        for series in members.values():
            for m in methods:
                r = cbl(series.dropna(), start, end, m, tz, holidays)
                out.append(float(r.baseline_kwh.sum()))
        return out

    def report() -> object:
        return event_report(store, site, start, end, methods)

    def own() -> object:
        return event_report(store, site, start, end, methods, tenant_ids=[tenant])

    def only_rows() -> object:
        return cbl_rows(energy, start, end, methods, tz, holidays)

    rows = [
        ("event_report (store read + report)", report),
        ("event_report, one tenant", own),
        ("cbl_rows (report on energy read)", only_rows),
    ]
    ref_s, ref = timed(per_member, args.repeats)
    print(f"{args.tenants} tenants + park, 2 methods, {args.repeats} repeats; medians [s]")
    print("| computation | median [s] | ratio to reference |")
    print("| --- | ---: | ---: |")
    print(f"| reference: cbl() per member and method | {ref_s:.2f} | 1.00 |")
    for name, fn in rows:
        s, out = timed(fn, args.repeats)
        print(f"| {name} | {s:.2f} | {s / ref_s:.3f} |")
        if name.startswith("cbl_rows"):
            rep, unavailable = out  # type: ignore[misc]
            assert not unavailable
            order = [(r.member, r.method) for r in rep.itertuples()]
            by = dict(zip(order, rep["baseline_kwh"], strict=True))
            members = [*(str(c) for c in energy.columns), "park"]
            mine = [by[(n, m.name)] for n in members for m in methods]
            assert np.allclose(mine, ref, rtol=1e-9), "the report differs from the reference"  # type: ignore[arg-type]
    store.close()


if __name__ == "__main__":
    main()
