"""Generate the 15-minute profiles, EV sessions and jobs of the sample industrial park.

Writes ``data/industrial_park/{profiles,vehicles,jobs}.csv`` next to the hand-written
``site.toml``; ``--park b`` writes a second park, ``data/industrial_park_b`` (its ``site.toml``
included), with other shifts, sizes and seed (see "Park B" below). Run from the repository
root::

    .venv/bin/python bench/make_industrial_park.py
    .venv/bin/python bench/make_industrial_park.py --park b

How the profiles are made (all random draws from ``numpy.random.default_rng(SEED)``, so the
files are reproducible byte for byte):

- **period**: 2026-05-18 00:00 to 2026-07-01 00:00, Asia/Seoul local time, 15-min interval
  starts; June 2026 is the simulated month, the two weeks before are history for forecasts.
- **source shapes**: the CityLearn 2022 phase-1 sample (``data/citylearn_2022_phase_1``): each
  target day takes the CityLearn day with the same month and day (2023), hourly values
  interpolated linearly to 15 min. The district load (sum of the five buildings, normalised to
  mean 1) gives the weather-driven (cooling) variation; ``solar_generation`` (summed over the
  buildings, divided by their kWp) gives PV per kWp; the carbon-intensity series gives the hourly
  shape of the grid factor, rescaled to the Korean 2023 mean of 0.4173 kgCO2/kWh.
- **24/7 plant** (plant24): 1,300 kW x (1 + 0.10 x district-load anomaly), 85 % on Sundays and
  holidays, AR(1) noise (3 %, phi 0.9).
- **one-shift plant** (plant1): 1,050 kW on weekdays 08-17 (lunch 12-13 at 70 %, half-hour ramps),
  Saturdays 08-12 at 60 %, 120 kW otherwise (Korean holidays from ``holidays``: off), noise 4 %.
- **office**: 70 kW base + 8-19 weekday occupancy of 150 kW + 180 kW x district-load shape
  (cooling), noise 3 %.
- **data centre** (dc): IT load 800 kW x (0.93 + 0.05 x diurnal sine peaking at 15 h), noise 2 %;
  PUE and the deferrable share come from ``site.toml``.
- **PV**: 1,500 kWp x CityLearn per-kWp generation.
- **EV fleet**: 20 logistics vans of plant24 (60 kWh, 11 kW, every 3rd with 11 kW V2G) plugged in
  every evening (arrival 18:00 +- 1 h, departure 06:00 +- 30 min next day, arrival at 25-50 % and
  need 90 %); 15 workplace cars at the office on working days (75 kWh, 7 kW, 08:30-17:30
  +- 30 min, need 15-30 kWh more). Each session is known when the vehicle plugs in.
- **process batches (jobs)**: plant1 runs two 2-h oven batches of 400 kW each working day, any time
  06:00-22:00, non-interruptible, planned at 18:00 the day before; plant24 runs one 3-h heat
  treatment of 600 kW every day, any time 00:00-24:00, non-interruptible, planned at 12:00 the
  day before. Data-centre GPU jobs are cut from the IT load at run time
  (:mod:`bitgaram.assets.datacentre`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import holidays
import numpy as np
import pandas as pd

from bitgaram.datasets.citylearn import read_citylearn

SEED = 20260601
SEED_B = 20260617
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "industrial_park"
OUT_B = ROOT / "data" / "industrial_park_b"
START, END = pd.Timestamp("2026-05-18"), pd.Timestamp("2026-07-01")
KR_FACTOR = 0.4173


def _ar1(rng: np.random.Generator, n: int, sigma: float, phi: float = 0.9) -> np.ndarray:
    e = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + e[i]
        out[i] = acc
    return out


def _shapes(index: pd.DatetimeIndex) -> pd.DataFrame:
    ds = read_citylearn(ROOT / "data" / "citylearn_2022_phase_1")
    src = pd.DataFrame(
        {
            "load": ds.load_matrix().sum(axis=1),
            "pv": ds.pv_matrix().sum(axis=1) / sum(b.pv_kwp for b in ds.buildings),
            "carbon": ds.carbon_intensity,
        },
        index=ds.index,
    )
    src = src[~src.index.duplicated()]
    hours = pd.date_range(index[0].floor("D"), index[-1].ceil("D"), freq="h")
    mapped = src.reindex(hours.map(lambda t: t.replace(year=2023))).to_numpy()
    mapped = pd.DataFrame(mapped, index=hours, columns=src.columns).ffill().bfill()
    # Hourly values are interval averages; interpolate at 15-min interval midpoints.
    x_src = (hours + pd.Timedelta(minutes=30)).asi8
    x_dst = (index + pd.Timedelta(minutes=7.5)).asi8
    out = {c: np.interp(x_dst, x_src, mapped[c].to_numpy()) for c in mapped.columns}
    frame = pd.DataFrame(out, index=index)
    frame["load"] /= frame["load"].mean()
    frame["carbon"] *= KR_FACTOR / frame["carbon"].mean()
    return frame


def main() -> None:
    """Write the CSV files."""
    rng = np.random.default_rng(SEED)
    index = pd.date_range(START, END, freq="15min", inclusive="left")
    n = len(index)
    shape = _shapes(index)
    kr = holidays.KR(years=[2026])
    day = index.normalize()
    off = np.array([(d.weekday() == 6) or (d.date() in kr) for d in day])
    sat = np.array([d.weekday() == 5 for d in day]) & ~off
    hour = index.hour + index.minute / 60.0
    anomaly = shape["load"].to_numpy() - 1.0

    plant24 = 1300.0 * (1 + 0.10 * anomaly) * np.where(off, 0.85, 1.0)
    plant24 *= 1 + _ar1(rng, n, 0.03)

    shift = np.clip(np.minimum(hour - 7.5, 17.5 - hour) / 0.5, 0.0, 1.0)
    shift = shift * np.where((hour >= 12) & (hour < 13), 0.7, 1.0)
    sat_shift = np.clip(np.minimum(hour - 7.5, 12.5 - hour) / 0.5, 0.0, 1.0) * 0.6
    working = ~off & ~sat
    plant1 = 120.0 + 930.0 * np.where(working, shift, np.where(sat, sat_shift, 0.0))
    plant1 *= 1 + _ar1(rng, n, 0.04)

    occupied = working & (hour >= 8) & (hour < 19)
    office = 70.0 + np.where(occupied, 150.0 + 180.0 * shape["load"].to_numpy(), 0.0)
    office *= 1 + _ar1(rng, n, 0.03)

    dc_it = 800.0 * (0.93 + 0.05 * np.sin((hour - 9.0) / 24.0 * 2 * np.pi))
    dc_it *= 1 + _ar1(rng, n, 0.02)

    profiles = pd.DataFrame(
        {
            "timestamp": index.strftime("%Y-%m-%d %H:%M"),
            "plant24_kw": plant24.round(2),
            "plant1_kw": plant1.round(2),
            "office_kw": office.round(2),
            "dc_it_kw": dc_it.round(2),
            "pv_kw": (1500.0 * shape["pv"].to_numpy()).clip(0).round(2),
            "carbon_kg_per_kwh": shape["carbon"].round(4),
        }
    )
    OUT.mkdir(parents=True, exist_ok=True)
    profiles.to_csv(OUT / "profiles.csv", index=False)

    def stamp(t: pd.Timestamp) -> str:
        return t.floor("15min").strftime("%Y-%m-%d %H:%M")

    vehicles = []
    days = pd.date_range(START, END, freq="D", inclusive="left")
    for d in days:
        for i in range(20):
            arr = d + pd.Timedelta(hours=18 + rng.uniform(-1, 1))
            dep = d + pd.Timedelta(days=1, hours=6 + rng.uniform(-0.5, 0.5))
            if dep >= END:
                continue
            soc = rng.uniform(0.25, 0.5) * 60.0
            vehicles.append(
                (
                    f"van{i:02d}-{d:%m%d}",
                    "plant24",
                    stamp(arr),
                    stamp(dep),
                    round(soc, 2),
                    54.0,
                    60.0,
                    11.0,
                    11.0 if i % 3 == 0 else 0.0,
                )
            )
        if d.weekday() < 5 and d.date() not in kr:
            for i in range(15):
                arr = d + pd.Timedelta(hours=8.5 + rng.uniform(-0.5, 0.5))
                dep = d + pd.Timedelta(hours=17.5 + rng.uniform(-0.5, 0.5))
                soc = rng.uniform(0.2, 0.5) * 75.0
                vehicles.append(
                    (
                        f"car{i:02d}-{d:%m%d}",
                        "office",
                        stamp(arr),
                        stamp(dep),
                        round(soc, 2),
                        round(soc + rng.uniform(15, 30), 2),
                        75.0,
                        7.0,
                        0.0,
                    )
                )
    pd.DataFrame(
        vehicles,
        columns=[
            "id",
            "tenant",
            "arrival",
            "departure",
            "arrival_kwh",
            "required_kwh",
            "capacity_kwh",
            "charger_kw",
            "v2g_kw",
        ],
    ).to_csv(OUT / "vehicles.csv", index=False)

    jobs = []
    for d in days:
        prev = d - pd.Timedelta(days=1)
        jobs.append(
            (
                f"heat-{d:%m%d}",
                "plant24",
                600.0,
                12,
                stamp(d),
                stamp(d + pd.Timedelta(days=1)),
                False,
                stamp(prev + pd.Timedelta(hours=12)),
            )
        )
        if d.weekday() < 5 and d.date() not in kr:
            for k in range(2):
                jobs.append(
                    (
                        f"oven{k}-{d:%m%d}",
                        "plant1",
                        400.0,
                        8,
                        stamp(d + pd.Timedelta(hours=6)),
                        stamp(d + pd.Timedelta(hours=22)),
                        False,
                        stamp(prev + pd.Timedelta(hours=18)),
                    )
                )
    pd.DataFrame(
        jobs,
        columns=[
            "id",
            "tenant",
            "power_kw",
            "duration_steps",
            "earliest",
            "deadline",
            "interruptible",
            "known_from",
        ],
    ).to_csv(OUT / "jobs.csv", index=False)
    print(
        f"wrote {len(profiles)} profile rows, {len(vehicles)} sessions, {len(jobs)} jobs to {OUT}"
    )


SITE_B = """# Second sample industrial park (issue 21): bench/make_industrial_park.py --park b
# writes this file with profiles.csv, vehicles.csv and jobs.csv (the script's docstring says how).

[site]
id = "bitgaram-ip-b"
name = "Bitgaram sample casting and machining park"
timezone = "Asia/Seoul"
latitude = 35.54
longitude = 129.31
tariff = { name = "kepco-industrial-eul-high-a", option = "II", contract_kw = 5000 }
carbon = { factor = "kr-grid" }
connection_limit_kw = 4800
"""

TENANTS_B = (
    ("foundry", "Two-shift foundry", "manufacturing"),
    ("machining", "One-shift machining plant", "manufacturing"),
    ("coldchain", "Cold-chain warehouse (delivery trucks)", "logistics"),
    ("office", "Park office", "services"),
)

ASSETS_B = """
[[meters]]
id = "rooftop-pv"
kind = "pv"
unit = "kWh"
resolution = "15min"

[[assets]]
type = "battery"
id = "park-ess"
capacity_kwh = 3000
power_kw = 1200
charge_efficiency = 0.95
discharge_efficiency = 0.95
soc_min = 0.1
soc_max = 0.9
initial_soc = 0.5

[[assets]]
type = "pv"
id = "rooftop-pv"
meter = "rooftop-pv"
kwp = 900

[[assets]]
type = "ev_charger"
id = "truck-chargers"
tenant = "coldchain"
chargers = 8
power_kw = 22
v2g = true

[[assets]]
type = "ev_charger"
id = "shift-chargers"
tenant = "foundry"
chargers = 25
power_kw = 7
"""


def _site_b() -> str:
    parts = [SITE_B]
    for tid, name, sector in TENANTS_B:
        parts.append(f'\n[[tenants]]\nid = "{tid}"\nname = "{name}"\nsector = "{sector}"\n')
    for tid, _, _ in TENANTS_B:
        parts.append(
            f'\n[[meters]]\nid = "{tid}-load"\ntenant = "{tid}"\nkind = "load"\n'
            'unit = "kWh"\nresolution = "15min"\n'
        )
    parts.append(ASSETS_B)
    return "".join(parts)


def main_b() -> None:
    """Write park B (see the module docstring)."""
    rng = np.random.default_rng(SEED_B)
    index = pd.date_range(START, END, freq="15min", inclusive="left")
    n = len(index)
    shape = _shapes(index)
    kr = holidays.KR(years=[2026])
    day = index.normalize()
    off = np.array([(d.weekday() == 6) or (d.date() in kr) for d in day])
    sat = np.array([d.weekday() == 5 for d in day]) & ~off
    working = ~off & ~sat
    hour = index.hour + index.minute / 60.0
    anomaly = shape["load"].to_numpy() - 1.0

    furnace = np.where(working & (hour >= 6) & (hour < 22), 700.0, 0.0)
    furnace += np.where(sat & (hour >= 6) & (hour < 14), 700.0, 0.0)
    foundry = np.where(off, 900.0, 1500.0 * (1 + 0.05 * anomaly) + furnace)
    foundry *= 1 + _ar1(rng, n, 0.03)

    shift = np.clip(np.minimum(hour - 6.5, 16.5 - hour) / 0.5, 0.0, 1.0)
    shift = shift * np.where((hour >= 12) & (hour < 13), 0.6, 1.0)
    machining = 150.0 + 800.0 * np.where(working, shift, 0.0)
    machining *= 1 + _ar1(rng, n, 0.05)

    coldchain = (300.0 + 300.0 * shape["load"].to_numpy()) * (1 + _ar1(rng, n, 0.03))
    occupied = working & (hour >= 8) & (hour < 18)
    office = (40.0 + np.where(occupied, 110.0, 0.0)) * (1 + _ar1(rng, n, 0.03))

    profiles = pd.DataFrame(
        {
            "timestamp": index.strftime("%Y-%m-%d %H:%M"),
            "foundry_kw": foundry.round(2),
            "machining_kw": machining.round(2),
            "coldchain_kw": coldchain.round(2),
            "office_kw": office.round(2),
            "pv_kw": (900.0 * shape["pv"].to_numpy()).clip(0).round(2),
            "carbon_kg_per_kwh": shape["carbon"].round(4),
        }
    )
    OUT_B.mkdir(parents=True, exist_ok=True)
    (OUT_B / "site.toml").write_text(_site_b())
    profiles.to_csv(OUT_B / "profiles.csv", index=False)

    def stamp(t: pd.Timestamp) -> str:
        return t.floor("15min").strftime("%Y-%m-%d %H:%M")

    vehicles = []
    days = pd.date_range(START, END, freq="D", inclusive="left")
    for d in days:
        for i in range(8):
            arr = d + pd.Timedelta(hours=20 + rng.uniform(-1, 1))
            dep = d + pd.Timedelta(days=1, hours=5 + rng.uniform(-0.5, 0.5))
            if dep >= END:
                continue
            soc = rng.uniform(0.2, 0.45) * 120.0
            v2g = 22.0 if i % 2 == 0 else 0.0
            truck = (f"truck{i}-{d:%m%d}", "coldchain", stamp(arr), stamp(dep), round(soc, 2))
            vehicles.append((*truck, 108.0, 120.0, 22.0, v2g))
        if d.weekday() < 5 and d.date() not in kr:
            for i in range(25):
                start = 6.0 if i < 12 else 14.0
                arr = d + pd.Timedelta(hours=start + rng.uniform(-1 / 3, 1 / 3))
                dep = d + pd.Timedelta(hours=start + 8 + rng.uniform(-1 / 3, 1 / 3))
                soc = rng.uniform(0.2, 0.5) * 60.0
                need = round(soc + rng.uniform(10, 25), 2)
                car = (f"car{i:02d}-{d:%m%d}", "foundry", stamp(arr), stamp(dep), round(soc, 2))
                vehicles.append((*car, need, 60.0, 7.0, 0.0))
    columns = ["id", "tenant", "arrival", "departure", "arrival_kwh", "required_kwh"]
    columns += ["capacity_kwh", "charger_kw", "v2g_kw"]
    pd.DataFrame(vehicles, columns=columns).to_csv(OUT_B / "vehicles.csv", index=False)

    jobs = []
    for d in days:
        prev = d - pd.Timedelta(days=1)
        noon, evening = prev + pd.Timedelta(hours=12), prev + pd.Timedelta(hours=18)
        nxt = d + pd.Timedelta(days=1)
        jobs.append(
            (f"melt-{d:%m%d}", "foundry", 700.0, 12, stamp(d), stamp(nxt), False, stamp(noon))
        )
        if d.weekday() < 5 and d.date() not in kr:
            six, ten = d + pd.Timedelta(hours=6), d + pd.Timedelta(hours=22)
            heat = (f"heat-{d:%m%d}", "machining", 350.0, 8, stamp(six), stamp(ten))
            jobs.append((*heat, True, stamp(evening)))
    columns = ["id", "tenant", "power_kw", "duration_steps", "earliest", "deadline"]
    columns += ["interruptible", "known_from"]
    pd.DataFrame(jobs, columns=columns).to_csv(OUT_B / "jobs.csv", index=False)
    print(f"wrote {len(profiles)} profile rows, {len(vehicles)} sessions, {len(jobs)} jobs")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--park", choices=("a", "b"), default="a")
    if ap.parse_args().park == "b":
        main_b()
    else:
        main()
