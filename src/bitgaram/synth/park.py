"""Synthetic parks of N tenants, scaled from measured shapes (pure, vectorised).

Each tenant ``i`` gets its own parameters drawn from ``default_rng([seed, i])``
(so tenant ``i`` is the same in a park of 10 and in a park of 1,000, and
chunks of tenants can be generated independently, in any order):

- a **shift pattern** (continuous, two-shift, one-shift, office), i.e. an
  activity level per hour of the week, mean 1;
- one of the measured **load shapes** (mean 1) of :class:`BaseProfiles`,
  mixed into the pattern with weight ``shape_weight`` (it carries the
  weather and day-to-day variability of real metering);
- a **time shift** of up to one hour either way (shift start times differ);
- a **size** (mean load [kW], log-normal: parks mix workshops and big plants);
- multiplicative **noise** ``exp(AR(1))`` (persistent, like real deviations);
- optionally **PV** (kWp relative to its mean load) and a **battery**
  (power relative to its mean load, two or four hours of storage).

Load [kWh per interval] at step ``t`` of tenant ``i``::

    kw[i, t] = mean_kw[i] * (w[i] * shape[i](t - s[i]) + (1 - w[i]) * pattern[i](t - s[i]))
               * exp(noise[i, t] - var[i] / 2)
    load[i, t] = kw[i, t] * step_hours

PV [kWh per interval]: ``kwp[i] * derate[i] * pv_per_kwp(t) * step_hours`` (one
site, one sun: all arrays see the same irradiance).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from bitgaram.errors import ConfigError
from bitgaram.site import Site, parse_site
from bitgaram.synth.profiles import BaseProfiles

#: Shift patterns: name -> (weekday hours active, Saturday hours active, level when idle).
#: Idle levels are the base load of the plant (compressed air, cooling, standby).
PATTERNS: dict[str, tuple[tuple[int, int], tuple[int, int], float]] = {
    "continuous": ((0, 24), (0, 24), 0.85),
    "two_shift": ((6, 22), (6, 14), 0.35),
    "one_shift": ((8, 18), (8, 12), 0.25),
    "office": ((9, 18), (0, 0), 0.2),
}

#: Probability of each pattern, in :data:`PATTERNS` order.
PATTERN_SHARES = (0.2, 0.3, 0.35, 0.15)

#: Median and log-standard deviation of tenant mean load [kW]: a few large plants,
#: many workshops (clipped to [5, 3000] kW).
SIZE_MEDIAN_KW, SIZE_SIGMA = 120.0, 0.9


@dataclass(frozen=True)
class SynthSpec:
    """What park to generate.

    Attributes
    ----------
    tenants : int
        Number of tenants N.
    days : int
        Length [days] (365 per year).
    resolution : str
        Interval of the readings, dividing an hour (e.g. ``"15min"``).
    start : str
        First local day (``YYYY-MM-DD``).
    seed : int
        Seed of every random draw.
    site_id : str
        Id of the site.
    timezone : str
        IANA zone of the park (default Gwangju's).
    latitude, longitude : float
        Location [deg].
    pv_share, battery_share : float
        Probability that a tenant has PV, a battery [-].
    """

    tenants: int
    days: int = 365
    resolution: str = "15min"
    start: str = "2025-01-01"
    seed: int = 0
    site_id: str = "synth"
    timezone: str = "Asia/Seoul"
    latitude: float = 35.22
    longitude: float = 126.84
    pv_share: float = 0.4
    battery_share: float = 0.25

    def __post_init__(self) -> None:
        if self.tenants < 1:
            raise ConfigError(f"tenants must be >= 1, got {self.tenants}")
        if self.days < 1:
            raise ConfigError(f"days must be >= 1, got {self.days}")
        step = pd.Timedelta(self.resolution)
        if step <= pd.Timedelta(0) or pd.Timedelta("1h") % step != pd.Timedelta(0):
            raise ConfigError(f"resolution {self.resolution!r} must divide an hour (e.g. 15min)")

    @property
    def step_hours(self) -> float:
        """Interval length [h]."""
        return pd.Timedelta(self.resolution).total_seconds() / 3600.0

    @property
    def steps(self) -> int:
        """Number of intervals."""
        return round(self.days * 24 / self.step_hours)

    def utc_index(self) -> pd.DatetimeIndex:
        """UTC interval starts (tz-aware), from local midnight of :attr:`start`."""
        first = pd.Timestamp(self.start).tz_localize(self.timezone).tz_convert("UTC")
        return pd.date_range(first, periods=self.steps, freq=self.resolution)

    def local_index(self) -> pd.DatetimeIndex:
        """Naive local wall-clock times of the interval starts (not regular across DST)."""
        return pd.DatetimeIndex(self.utc_index().tz_convert(self.timezone).tz_localize(None))


@dataclass(frozen=True)
class TenantPlan:
    """Parameters of every tenant (arrays of length N).

    Attributes
    ----------
    ids : tuple of str
        Tenant ids.
    pattern : numpy.ndarray
        Index into :data:`PATTERNS`.
    shape : numpy.ndarray
        Column of :attr:`BaseProfiles.load_shapes`.
    shape_weight : numpy.ndarray
        Weight of the measured shape against the pattern [-].
    shift_minutes : numpy.ndarray
        Time shift [min].
    mean_kw : numpy.ndarray
        Mean load [kW] (before noise).
    noise_sigma, noise_phi : numpy.ndarray
        Standard deviation and lag-1 correlation of the log noise [-].
    pv_kwp : numpy.ndarray
        PV peak [kWp]; 0 = no PV.
    pv_derate : numpy.ndarray
        Array losses factor [-].
    battery_kw, battery_kwh : numpy.ndarray
        Battery power [kW] and capacity [kWh]; 0 = no battery.
    """

    ids: tuple[str, ...]
    pattern: np.ndarray
    shape: np.ndarray
    shape_weight: np.ndarray
    shift_minutes: np.ndarray
    mean_kw: np.ndarray
    noise_sigma: np.ndarray
    noise_phi: np.ndarray
    pv_kwp: np.ndarray
    pv_derate: np.ndarray
    battery_kw: np.ndarray
    battery_kwh: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def tenant_id(i: int) -> str:
    """Id of tenant ``i`` (``t0000``, ``t0001``, ...)."""
    return f"t{i:04d}"


def plan_tenants(spec: SynthSpec, n_shapes: int) -> TenantPlan:
    """Draw every tenant's parameters; tenant ``i`` depends only on ``(seed, i)``.

    Parameters
    ----------
    spec : SynthSpec
        The park to generate.
    n_shapes : int
        Number of measured load shapes to choose from.

    Returns
    -------
    TenantPlan
    """
    n = spec.tenants
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "pattern",
            "shape",
            "w",
            "shift",
            "kw",
            "sigma",
            "phi",
            "kwp",
            "derate",
            "bkw",
            "bkwh",
        )
    }
    shares = np.asarray(PATTERN_SHARES) / np.sum(PATTERN_SHARES)
    for i in range(n):
        rng = np.random.default_rng([spec.seed, i])
        kw = float(np.clip(SIZE_MEDIAN_KW * np.exp(SIZE_SIGMA * rng.standard_normal()), 5, 3000))
        has_pv = rng.random() < spec.pv_share
        has_bat = rng.random() < spec.battery_share
        cols["pattern"].append(int(rng.choice(len(PATTERNS), p=shares)))
        cols["shape"].append(int(rng.integers(n_shapes)))
        cols["w"].append(rng.uniform(0.15, 0.45))
        cols["shift"].append(float(rng.integers(-4, 5) * 15))
        cols["kw"].append(kw)
        cols["sigma"].append(rng.uniform(0.03, 0.10))
        cols["phi"].append(rng.uniform(0.6, 0.95))
        kwp = round(kw * rng.uniform(0.3, 1.2)) if has_pv else 0.0
        cols["kwp"].append(float(max(kwp, 1.0)) if has_pv else 0.0)
        cols["derate"].append(rng.uniform(0.8, 0.95))
        bkw = round(kw * rng.uniform(0.2, 0.5), 1) if has_bat else 0.0
        cols["bkw"].append(float(max(bkw, 1.0)) if has_bat else 0.0)
        cols["bkwh"].append(cols["bkw"][-1] * float(rng.choice([2.0, 4.0])))
    arr = {k: np.asarray(v) for k, v in cols.items()}
    return TenantPlan(
        ids=tuple(tenant_id(i) for i in range(n)),
        pattern=arr["pattern"].astype(np.int64),
        shape=arr["shape"].astype(np.int64),
        shape_weight=arr["w"],
        shift_minutes=arr["shift"],
        mean_kw=arr["kw"],
        noise_sigma=arr["sigma"],
        noise_phi=arr["phi"],
        pv_kwp=arr["kwp"],
        pv_derate=arr["derate"],
        battery_kw=arr["bkw"],
        battery_kwh=arr["bkwh"],
    )


def pattern_table(step_minutes: int) -> np.ndarray:
    """Activity per step of the week of every pattern, mean 1.

    Returns
    -------
    numpy.ndarray
        Shape (len(PATTERNS), 7 * 24 * 60 // step_minutes); row order of
        :data:`PATTERNS`; column 0 is Monday 00:00 local.
    """
    per_hour = 60 // step_minutes
    rows = []
    for weekday_hours, saturday_hours, idle in PATTERNS.values():
        week = np.full((7, 24), idle)
        week[:5, weekday_hours[0] : weekday_hours[1]] = 1.0
        week[5, saturday_hours[0] : saturday_hours[1]] = 1.0
        hourly = week.ravel()
        rows.append(np.repeat(hourly / hourly.mean(), per_hour))
    return np.vstack(rows)


def _source_offset_hours(base: BaseProfiles, start: pd.Timestamp) -> int:
    """Hour of the source year matching ``start`` (same weekday, nearest day of year)."""
    src = base.index
    midnights = np.flatnonzero((src.hour == 0) & (src.minute == 0))
    if midnights.size == 0:
        return 0
    doy = src[midnights].day_of_year.to_numpy()
    dist = np.abs(doy - start.day_of_year)
    dist = np.minimum(dist, 365 - dist)
    same_day = src[midnights].day_of_week.to_numpy() == start.day_of_week
    score = np.where(same_day, dist, 10_000)
    return int(midnights[int(np.argmin(score))])


def _interp_rows(values: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Linear interpolation of an hourly cyclic series at fractional positions [h]."""
    n = values.shape[0]
    lo = np.floor(hours).astype(np.int64)
    frac = hours - lo
    lo %= n
    hi = (lo + 1) % n
    return values[lo] * (1.0 - frac) + values[hi] * frac


def generate_chunk(
    base: BaseProfiles, plan: TenantPlan, spec: SynthSpec, tenants: slice
) -> tuple[np.ndarray, np.ndarray]:
    """Load and PV energy of a slice of tenants.

    Parameters
    ----------
    base : BaseProfiles
        Measured shapes.
    plan : TenantPlan
        Every tenant's parameters (:func:`plan_tenants`).
    spec : SynthSpec
        The park.
    tenants : slice
        Which tenants (positions in ``plan``).

    Returns
    -------
    load_kwh, pv_kwh : numpy.ndarray
        Shape (n, steps) each [kWh per interval]; PV rows of tenants without
        PV are zero.
    """
    idx = np.arange(len(plan))[tenants]
    local = spec.local_index()
    step_min = round(spec.step_hours * 60)
    offset = _source_offset_hours(base, pd.Timestamp(spec.start))
    elapsed_h = np.arange(spec.steps) * spec.step_hours
    shift_h = plan.shift_minutes[idx][:, None] / 60.0

    # Measured shape, shifted per tenant, interpolated between source hours.
    pos = offset + elapsed_h[None, :] - shift_h
    shapes = base.load_shapes[:, plan.shape[idx]]  # (n_hours, n)
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    lo %= shapes.shape[0]
    hi = (lo + 1) % shapes.shape[0]
    cols = np.arange(len(idx))[:, None]
    measured = shapes[lo, cols] * (1.0 - frac) + shapes[hi, cols] * frac

    # Shift pattern at the tenant's shifted step of the week.
    table = pattern_table(step_min)
    week_steps = table.shape[1]
    monday = local.normalize() - pd.to_timedelta(local.day_of_week, unit="D")
    step_of_week = ((local - monday) // pd.Timedelta(minutes=step_min)).to_numpy()
    shift_steps = np.round(plan.shift_minutes[idx] / step_min).astype(np.int64)
    wpos = (step_of_week[None, :] - shift_steps[:, None]) % week_steps
    activity = table[plan.pattern[idx][:, None], wpos]

    w = plan.shape_weight[idx][:, None]
    kw = plan.mean_kw[idx][:, None] * (w * measured + (1.0 - w) * activity)

    # Persistent multiplicative noise: AR(1) in logs, unit mean.
    eps = np.vstack(
        [np.random.default_rng([spec.seed, int(i), 1]).standard_normal(spec.steps) for i in idx]
    )
    phi = plan.noise_phi[idx]
    sigma = plan.noise_sigma[idx]
    innov = eps * (sigma * np.sqrt(1.0 - phi**2))[:, None]
    ar = np.vstack([lfilter([1.0], [1.0, -p], row) for p, row in zip(phi, innov, strict=True)])
    kw *= np.exp(ar - (sigma**2 / 2.0)[:, None])
    load_kwh = np.clip(kw, 0.0, None) * spec.step_hours

    pv_shape = _interp_rows(base.pv_per_kwp, offset + elapsed_h)
    pv_kw = (plan.pv_kwp[idx] * plan.pv_derate[idx])[:, None] * pv_shape[None, :]
    return load_kwh, pv_kw * spec.step_hours


def iter_chunks(
    base: BaseProfiles, plan: TenantPlan, spec: SynthSpec, chunk: int = 100
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """:func:`generate_chunk` over consecutive slices of ``chunk`` tenants."""
    if chunk < 1:
        raise ConfigError(f"chunk must be >= 1, got {chunk}")
    for lo in range(0, len(plan), chunk):
        part = slice(lo, min(lo + chunk, len(plan)))
        load, pv = generate_chunk(base, plan, spec, part)
        yield part, load, pv


def load_meter(tid: str) -> str:
    """Load meter id of a tenant."""
    return f"{tid}-load"


def pv_meter(tid: str) -> str:
    """PV meter id of a tenant."""
    return f"{tid}-pv"


def battery_meter(tid: str) -> str:
    """Battery meter id of a tenant (holds day-ahead schedules, see ``docs/scaling.md``)."""
    return f"{tid}-ess"


def synth_site(plan: TenantPlan, spec: SynthSpec) -> Site:
    """The site model of a synthetic park.

    Every tenant has a load meter (kWh per interval); tenants with PV a PV
    meter and a PV asset; tenants with a battery a battery asset and a
    battery meter (hourly). The park pays the KEPCO industrial (eul) high-voltage A
    tariff, option II, with a contract demand of twice its mean load.
    """
    tenants, meters, assets = [], [], []
    pattern_names = list(PATTERNS)
    for i, tid in enumerate(plan.ids):
        tenants.append(
            {"id": tid, "name": f"Tenant {i:04d}", "sector": pattern_names[int(plan.pattern[i])]}
        )
        meters.append(
            {
                "id": load_meter(tid),
                "tenant": tid,
                "kind": "load",
                "unit": "kWh",
                "resolution": spec.resolution,
            }
        )
        if plan.pv_kwp[i] > 0:
            meters.append(
                {
                    "id": pv_meter(tid),
                    "tenant": tid,
                    "kind": "pv",
                    "unit": "kWh",
                    "resolution": spec.resolution,
                }
            )
            assets.append(
                {
                    "type": "pv",
                    "id": f"{tid}-pv-array",
                    "tenant": tid,
                    "kwp": float(plan.pv_kwp[i]),
                    "meter": pv_meter(tid),
                }
            )
        if plan.battery_kw[i] > 0:
            meters.append(
                {
                    "id": battery_meter(tid),
                    "tenant": tid,
                    "kind": "battery",
                    "unit": "kWh",
                    "resolution": "1h",
                }
            )
            assets.append(
                {
                    "type": "battery",
                    "id": f"{tid}-ess-unit",
                    "tenant": tid,
                    "capacity_kwh": float(plan.battery_kwh[i]),
                    "power_kw": float(plan.battery_kw[i]),
                    "meter": battery_meter(tid),
                }
            )
    contract = max(1.0, round(2.0 * float(plan.mean_kw.sum())))
    data: dict[str, object] = {
        "site": {
            "id": spec.site_id,
            "name": f"Synthetic park of {len(plan)} tenants (seed {spec.seed})",
            "timezone": spec.timezone,
            "latitude": spec.latitude,
            "longitude": spec.longitude,
            "tariff": {
                "name": "kepco-industrial-eul-high-a",
                "option": "II",
                "contract_kw": contract,
            },
        },
        "tenants": tenants,
        "meters": meters,
        "assets": assets,
    }
    return parse_site(data, f"synth({spec.site_id})")
