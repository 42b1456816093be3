"""Benchmark: recover an injected -10 % step and an injected anomaly on every sample building.

For each building of the CityLearn 2022 sample park and each period split:

1. inject a -10 % step change from the first day of the reporting period and an
   anomaly (8 hours at twice the building's mean baseline hourly use, 01:00 on the
   16th day of the reporting period);
2. run :func:`bitgaram.verify.pipeline.verify_meter` (hourly baseline, daily
   fallback, ASHRAE Guideline 14 acceptance, 90 % G14 savings uncertainty);
3. compare the avoided energy with the truth (10 % of the original reporting
   use, minus the anomaly's energy) and look the anomaly up in the ranked list;
   the hourly baseline's interval is checked too, whatever its G14 verdict;
4. placebo: the same on unmodified data, where the truth is 0.

Rejected baselines are reported as such; their savings are computed only as a
diagnostic (``allow_rejected``), marked ``diag``.

Run::

    .venv/bin/python bench/verify_injected.py [--data data/citylearn_2022_phase_1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from bitgaram.verify.baseline import aggregate_daily, prepare_frame
from bitgaram.verify.inputs import from_citylearn
from bitgaram.verify.pipeline import MeterResult, Period, verify_meter
from bitgaram.verify.savings import Savings, avoided_energy
from bitgaram.verify.testing import inject_excess, inject_step

#: Period splits, chosen before looking at results: half a year each way, and a short
#: 3-month baseline with a 1-month reporting period.
SPLITS = (
    ("6m/6m", ("2022-08-01", "2023-01-31"), ("2023-02-01", "2023-07-30")),
    ("3m/1m", ("2022-08-01", "2022-10-31"), ("2022-11-01", "2022-11-30")),
)
STEP = 0.10
ANOMALY_HOURS = 8


def _savings(result: MeterResult, energy: pd.Series, temp: pd.Series, rep: Period) -> Savings:
    if result.savings is not None:
        return result.savings
    fit = result.selection.chosen
    frame = rep.slice(prepare_frame(energy, temp))
    if fit.model.interval == "daily":
        frame = aggregate_daily(frame)
    return avoided_energy(fit, frame, result.meter, allow_rejected=True)


def _hourly_savings(
    result: MeterResult, energy: pd.Series, temp: pd.Series, rep: Period
) -> Savings:
    """Savings of the hourly fit (always tried first), whatever its G14 verdict."""
    hourly = result.selection.tried[0]
    assert hourly.model.interval == "hourly"
    frame = rep.slice(prepare_frame(energy, temp))
    return avoided_energy(hourly, frame, result.meter, allow_rejected=True)


def _held(result: MeterResult) -> str:
    held = result.held_out
    return f"{held.cv_rmse:.1%} / {held.nmbe:+.1%}" if held is not None else "-"


def main() -> None:
    """Run every split on every building and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/citylearn_2022_phase_1", type=Path)
    args = parser.parse_args()
    load_times = []
    for _ in range(3):  # timing reference measured in the same run: reading the dataset
        t0 = time.perf_counter()
        park = from_citylearn(args.data)
        load_times.append(time.perf_counter() - t0)
    assert park.temperature_c is not None and park.price is not None
    temp, price = park.temperature_c, park.price
    print(
        "| split | building | hourly CV(RMSE) | baseline used (G14) | CV(RMSE) | NMBE "
        "| held-out CV(RMSE) / NMBE "
        "| avoided ± U (90 %) kWh | truth kWh | error | within | placebo ± U | 0 within "
        "| anomaly rank | found kWh / injected | hourly avoided ± U kWh | hourly within |"
    )
    print("|" + "---|" * 17)
    within_count = placebo_count = found_count = total = hourly_count = 0
    seconds = []
    for label, (bs, be), (rs, re) in SPLITS:
        base, rep = Period.parse(bs, be), Period.parse(rs, re)
        for meter in park.energy_kwh.columns:
            original = park.energy_kwh[meter]
            mean = float(base.slice(original.to_frame()).iloc[:, 0].mean())
            start = rep.start + pd.Timedelta(days=15, hours=1)
            injected = inject_excess(inject_step(original, rep.start, STEP), start, 8, 2 * mean)
            t0 = time.perf_counter()
            res = verify_meter(
                injected.energy_kwh, temp, base, rep, price, str(meter), holidays=park.holidays
            )
            seconds.append(time.perf_counter() - t0)
            sav = _savings(res, injected.energy_kwh, temp, rep)
            truth = injected.true_avoided_kwh(rep.start, rep.end)
            placebo_res = verify_meter(
                original, temp, base, rep, price, str(meter), holidays=park.holidays
            )
            placebo = _savings(placebo_res, original, temp, rep)
            a0, a1 = injected.anomaly_start, injected.anomaly_end
            assert a0 is not None and a1 is not None
            ranks = [
                (i, a)
                for i, a in enumerate(res.anomalies, 1)
                if a.kind != "drift" and a.start < a1 and a.end > a0
            ]
            fit = res.selection.chosen
            tag = "" if fit.accepted else " diag"
            ok = sav.contains(truth)
            zero = placebo.contains(0.0)
            hourly = _hourly_savings(res, injected.energy_kwh, temp, rep)
            hourly_ok = hourly.contains(truth)
            hourly_count += hourly_ok
            total += 1
            within_count += ok
            placebo_count += zero
            found_count += bool(ranks)
            rank = f"{ranks[0][0]} of {len(res.anomalies)}" if ranks else "missed"
            size = f"{ranks[0][1].excess_kwh:.1f} / {injected.excess_kwh:.1f}" if ranks else "-"
            print(
                f"| {label} | {meter} | {res.selection.tried[0].metrics.cv_rmse:.0%} | "
                f"{fit.model.interval} "
                f"({'pass' if fit.accepted else 'FAIL'}) | {fit.metrics.cv_rmse:.1%} | "
                f"{fit.metrics.nmbe:+.1%} | {_held(res)} | "
                f"{sav.avoided_kwh:,.0f} ± {sav.uncertainty_kwh:,.0f}"
                f"{tag} | {truth:,.0f} | {sav.avoided_kwh - truth:+,.0f} | "
                f"{'yes' if ok else 'no'} | {placebo.avoided_kwh:,.0f} ± "
                f"{placebo.uncertainty_kwh:,.0f} | {'yes' if zero else 'no'} | {rank} | {size} | "
                f"{hourly.avoided_kwh:,.0f} ± {hourly.uncertainty_kwh:,.0f} | "
                f"{'yes' if hourly_ok else 'no'} |"
            )
    print()
    print(
        f"truth within the 90 % interval: {within_count}/{total} (hourly baseline, shown "
        f"whatever its G14 verdict: {hourly_count}/{total}); placebo interval holds 0: "
        f"{placebo_count}/{total}; anomaly found: {found_count}/{total}; "
        f"median verify_meter time {statistics.median(seconds):.2f} s "
        f"(reference, reading the dataset: {statistics.median(load_times):.2f} s; ratio "
        f"{statistics.median(seconds) / statistics.median(load_times):.1f}x)"
    )


if __name__ == "__main__":
    main()
