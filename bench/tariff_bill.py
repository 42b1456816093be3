"""Speed of tariff lookups and park bills on a year of 15-minute readings.

Measures, in one run (medians over ``--repeats``):

* ``TouTariff.energy_rate`` over a year of 15-min timestamps (35,040) and over one MPC horizon
  (96 x 15 min), against the reference ``PriceSeriesTariff.energy_rate`` (a bare sorted-array
  lookup) on the same timestamps;
* ``bill_park`` (every tenant and the park, 12 monthly bills each) on ``--tenants`` tenants x one
  year of 15-min readings, against the reference of a pandas group-by summing the same readings
  per tenant and month (the least work any bill needs).

Loads are synthetic (a daily shape plus noise, seed 0); the speed does not depend on them.

Usage::

    .venv/bin/python bench/tariff_bill.py --tenants 10 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from bitgaram.tariff import PriceSeriesTariff, bill_park, load_tariff


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` [s] over ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def synthetic_readings(n_tenants: int, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Long readings frame (meter, timestamp, kwh) with a daily shape [kWh per 15 min]."""
    rng = np.random.default_rng(0)
    hour = np.asarray(index.hour) + np.asarray(index.minute) / 60
    shape = 0.6 + 0.4 * np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)
    frames = []
    for k in range(n_tenants):
        kw = rng.uniform(100, 800) * shape * rng.normal(1.0, 0.05, len(index)).clip(0.5)
        frames.append(pd.DataFrame({"meter": f"t{k:02d}", "timestamp": index, "kwh": kw / 4}))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    index = pd.date_range("2026-01-01", "2027-01-01", freq="15min", inclusive="left")
    tou = load_tariff("kepco-industrial-eul-high-a", option="I")
    hourly = pd.date_range("2026-01-01", "2027-01-01", freq="h", inclusive="left")
    prices = PriceSeriesTariff("ref", "KRW", pd.Series(tou.energy_rate(hourly), index=hourly))

    t_tou = median_seconds(lambda: tou.energy_rate(index), args.repeats)
    t_ref = median_seconds(lambda: prices.energy_rate(index), args.repeats)
    print(
        f"energy_rate, {len(index):,} timestamps: TOU {t_tou * 1e3:.1f} ms median, "
        f"price-series reference {t_ref * 1e3:.1f} ms, ratio {t_tou / t_ref:.1f}x"
    )

    day = index[:96]
    t_day = median_seconds(lambda: tou.energy_rate(day), args.repeats * 20)
    t_day_ref = median_seconds(lambda: prices.energy_rate(day), args.repeats * 20)
    print(
        f"energy_rate, 96 timestamps (one MPC horizon): TOU {t_day * 1e3:.2f} ms median, "
        f"price-series reference {t_day_ref * 1e3:.2f} ms, ratio {t_day / t_day_ref:.1f}x"
    )

    readings = synthetic_readings(args.tenants, index)
    months = readings["timestamp"].dt.to_period("M")
    t_bill = median_seconds(lambda: bill_park(tou, readings, contract_kw=10_000.0), args.repeats)
    t_sum = median_seconds(lambda: readings.groupby(["meter", months])["kwh"].sum(), args.repeats)
    n_bills = (args.tenants + 1) * 12
    print(
        f"bill_park, {args.tenants} tenants x {len(index):,} readings ({n_bills} bills): "
        f"{t_bill:.2f} s median ({t_bill / n_bills * 1e3:.1f} ms per bill), "
        f"group-by-sum reference {t_sum * 1e3:.1f} ms, ratio {t_bill / t_sum:.0f}x"
    )


if __name__ == "__main__":
    main()
