"""Hourly energy balance and monthly/annual carbon ledger of a tenant or the park.

Per hour (interval-start labels, kWh)::

    onsite_used  = min(load, onsite generation)      self-consumed; surplus is exported
    grid_import  = load - onsite_used                 purchased electricity (Scope 2)
    cfe_matched  = min(load, onsite + PPA) + grid_cfe_share * max(load - onsite - PPA, 0)

Per period (month or year)::

    instruments_applied = min(REC + PPA + green premium, grid_import)
    renewable           = onsite_used + instruments_applied
    location-based      = grid_import * grid factor of the period's year      [kgCO2]
    location (hourly)   = sum_h grid_import_h * intensity_h  (when a series is given)
    market-based        = (grid_import - instruments_applied) * residual factor

The residual factor is configurable (instrument file ``residual_factor`` or an
argument); by default it equals the location-based grid factor, because Korea
publishes no residual mix. That default is conservative only in the sense of
not double-discounting: a true residual mix, with claimed renewables removed,
would be higher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bitgaram.account.factors import GridFactor
from bitgaram.account.instruments import Instrument, InstrumentKind, hourly_delivery
from bitgaram.account.re100 import (
    COMPANY_TARGET,
    PARK_TARGETS,
    Progress,
    Target,
    progress,
)
from bitgaram.errors import DataError

#: Hourly columns of :func:`hourly_balance` that are summed into periods.
ENERGY_COLUMNS = (
    "consumption_kwh",
    "onsite_generation_kwh",
    "onsite_used_kwh",
    "grid_import_kwh",
    "ppa_kwh",
    "rec_kwh",
    "green_premium_kwh",
    "cfe_matched_kwh",
)


def hourly_balance(
    load_kwh: pd.Series,
    onsite_kwh: pd.Series | None = None,
    instruments: Sequence[Instrument] = (),
    grid_intensity: pd.Series | None = None,
    grid_cfe_share: pd.Series | float = 0.0,
    pv_shape: pd.Series | None = None,
    onsite_used_kwh: pd.Series | None = None,
    grid_import_kwh: pd.Series | None = None,
) -> pd.DataFrame:
    """Hourly balance of one tenant (or the park).

    Parameters
    ----------
    load_kwh : pandas.Series
        Consumption per hour [kWh], DatetimeIndex of interval starts.
    onsite_kwh : pandas.Series, optional
        On-site renewable generation per hour [kWh].
    instruments : sequence of Instrument
        Renewable purchases of this tenant.
    grid_intensity : pandas.Series, optional
        Hourly grid carbon intensity [kgCO2/kWh].
    grid_cfe_share : pandas.Series or float
        Carbon-free share of grid electricity per hour [-] (0 by default: only
        on-site generation and PPAs count as carbon-free supply).
    pv_shape : pandas.Series, optional
        Generation shape for ``profile = "pv"`` PPAs (default: ``onsite_kwh``).
    onsite_used_kwh, grid_import_kwh : pandas.Series, optional
        Self-consumed generation and grid import per hour [kWh] when they are
        known from finer intervals or meters (see
        :mod:`bitgaram.account.energy`); default ``min(load, onsite)`` and
        ``load - onsite_used``.

    Returns
    -------
    pandas.DataFrame
        The :data:`ENERGY_COLUMNS` (plus ``location_hourly_kgco2`` when an
        intensity series is given), indexed like ``load_kwh``.

    Raises
    ------
    DataError
        On negative load or a series that does not cover the load's index.
    """
    if not isinstance(load_kwh.index, pd.DatetimeIndex):
        raise DataError("load needs a DatetimeIndex of interval-start timestamps")
    index = load_kwh.index
    load = load_kwh.to_numpy(float)
    if np.isnan(load).any():
        raise DataError(f"load has missing values (first at {index[np.isnan(load)][0]})")
    if (load < -1e-9).any():
        raise DataError(f"load is negative at {index[load < -1e-9][0]}; give consumption [kWh]")
    load = np.clip(load, 0.0, None)

    def aligned(series: pd.Series | None, name: str) -> np.ndarray:
        if series is None:
            return np.zeros(len(index))
        values = series.reindex(index)
        if values.isna().any():
            raise DataError(f"{name} does not cover {index[values.isna().to_numpy()][0]}")
        return values.to_numpy(float)

    onsite = np.clip(aligned(onsite_kwh, "on-site generation"), 0.0, None)
    shape = aligned(pv_shape, "PV shape") if pv_shape is not None else onsite
    by_kind = {k: np.zeros(len(index)) for k in InstrumentKind}
    for inst in instruments:
        by_kind[inst.kind] += hourly_delivery(inst, index, shape)
    used = (
        np.minimum(load, onsite)
        if onsite_used_kwh is None
        else np.clip(aligned(onsite_used_kwh, "self-consumed generation"), 0.0, None)
    )
    grid = (
        load - used
        if grid_import_kwh is None
        else np.clip(aligned(grid_import_kwh, "grid import"), 0.0, None)
    )
    ppa = by_kind[InstrumentKind.PPA]
    if isinstance(grid_cfe_share, pd.Series):
        share = np.clip(aligned(grid_cfe_share, "grid CFE share"), 0.0, 1.0)
    else:
        share = np.full(len(index), float(grid_cfe_share))
    contracted = onsite + ppa
    matched = np.minimum(load, contracted) + share * np.maximum(load - contracted, 0.0)
    frame = pd.DataFrame(
        {
            "consumption_kwh": load,
            "onsite_generation_kwh": onsite,
            "onsite_used_kwh": used,
            "grid_import_kwh": grid,
            "ppa_kwh": ppa,
            "rec_kwh": by_kind[InstrumentKind.REC],
            "green_premium_kwh": by_kind[InstrumentKind.GREEN_PREMIUM],
            "cfe_matched_kwh": matched,
        },
        index=index,
    )
    if grid_intensity is not None:
        frame["location_hourly_kgco2"] = grid * aligned(grid_intensity, "grid intensity")
    return frame


def summarise(
    hourly: pd.DataFrame,
    freq: str,
    grid_factors: Mapping[int, GridFactor],
    residual_factor_kg_per_kwh: float | None = None,
) -> pd.DataFrame:
    """Monthly (``"MS"``) or annual (``"YS"``) ledger from an hourly balance.

    Parameters
    ----------
    hourly : pandas.DataFrame
        Output of :func:`hourly_balance` (or a sum of several).
    freq : str
        ``"MS"`` (months) or ``"YS"`` (calendar years).
    grid_factors : mapping of int to GridFactor
        Location-based factor per calendar year present in the data.
    residual_factor_kg_per_kwh : float, optional
        Market-based factor for the uncovered remainder [kgCO2/kWh]; default:
        the year's grid factor.

    Returns
    -------
    pandas.DataFrame
        One row per period: ``hours`` covered (a partial month or year shows
        fewer), energy columns [kWh], ``instruments_kwh``,
        ``instruments_applied_kwh``, ``renewable_kwh``, ``re_share``,
        ``cfe_score``, ``grid_factor``, ``residual_factor`` [kgCO2/kWh],
        ``location_kgco2``, ``market_kgco2`` (and ``location_hourly_kgco2``).
    """
    if freq not in ("MS", "YS"):
        raise DataError(f"freq must be 'MS' or 'YS', got {freq!r}")
    cols = [c for c in (*ENERGY_COLUMNS, "location_hourly_kgco2") if c in hourly]
    idx = pd.DatetimeIndex(hourly.index)
    if idx.tz is not None:
        # months and years of the local wall clock (the index is in the site's zone)
        idx = idx.tz_localize(None)
    # Group by month or year with integer codes and bincount: the accounts call this for
    # every tenant of every request, and a pandas group-by costs tens of ms per call.
    months = idx.year.to_numpy() * 12 + idx.month.to_numpy() - 1
    if freq == "YS":
        months = months - months % 12
    keys, codes = np.unique(months, return_inverse=True)
    col: dict[str, np.ndarray] = {"hours": np.bincount(codes, minlength=len(keys))}
    for c in cols:
        col[c] = np.bincount(codes, weights=hourly[c].to_numpy(dtype=float), minlength=len(keys))
    years = [int(k // 12) for k in keys]
    missing = sorted(set(years) - set(grid_factors))
    if missing:
        raise DataError(f"no grid factor given for year(s) {missing}")
    factor = np.array([grid_factors[y].value_kg_per_kwh for y in years])
    residual = (
        factor
        if residual_factor_kg_per_kwh is None
        else np.full(len(keys), float(residual_factor_kg_per_kwh))
    )
    inst = col["ppa_kwh"] + col["rec_kwh"] + col["green_premium_kwh"]
    applied = np.minimum(inst, col["grid_import_kwh"])
    col["instruments_kwh"] = inst
    col["instruments_applied_kwh"] = applied
    col["renewable_kwh"] = col["onsite_used_kwh"] + applied
    cons = col["consumption_kwh"]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Clipped: both ratios are <= 1 by construction, up to floating-point rounding.
        col["re_share"] = np.clip(col["renewable_kwh"] / np.where(cons > 0, cons, np.nan), 0, 1)
        col["cfe_score"] = np.clip(col["cfe_matched_kwh"] / np.where(cons > 0, cons, np.nan), 0, 1)
    col["grid_factor"] = factor
    col["residual_factor"] = residual
    col["location_kgco2"] = col["grid_import_kwh"] * factor
    col["market_kgco2"] = (col["grid_import_kwh"] - applied) * residual
    index = pd.DatetimeIndex(
        [pd.Timestamp(year=int(k // 12), month=int(k % 12) + 1, day=1) for k in keys],
        name="period",
    )
    out = pd.DataFrame(col, index=index)
    out["grid_factor_id"] = [grid_factors[y].id for y in years]
    return out


@dataclass(frozen=True, eq=False)
class Account:
    """Carbon and RE100 account of a tenant or the park.

    Attributes
    ----------
    name : str
        Tenant id, or the park's.
    hourly : pandas.DataFrame
        Hourly balance.
    monthly, annual : pandas.DataFrame
        Ledgers from :func:`summarise`.
    progress : tuple of Progress
        One per (target, calendar year present).
    grid_factors : dict of int to GridFactor
        Location-based factor used per year.
    residual_factor_kg_per_kwh : float or None
        Market-based residual factor (None: the grid factor).
    """

    name: str
    hourly: pd.DataFrame
    monthly: pd.DataFrame
    annual: pd.DataFrame
    progress: tuple[Progress, ...]
    grid_factors: dict[int, GridFactor] = field(default_factory=dict)
    residual_factor_kg_per_kwh: float | None = None


def _progress(annual: pd.DataFrame, targets: Sequence[Target]) -> tuple[Progress, ...]:
    out = []
    for period, row in annual.iterrows():
        year = pd.Timestamp(str(period)).year
        for t in targets:
            out.append(
                progress(t, year, float(row["consumption_kwh"]), float(row["renewable_kwh"]))
            )
    return tuple(out)


def account(
    name: str,
    hourly: pd.DataFrame,
    grid_factors: Mapping[int, GridFactor],
    residual_factor_kg_per_kwh: float | None = None,
    targets: Sequence[Target] = (COMPANY_TARGET,),
) -> Account:
    """Ledgers and target progress from an hourly balance.

    Parameters
    ----------
    name : str
        Tenant id or park name.
    hourly : pandas.DataFrame
        :func:`hourly_balance` output (for the park, the sum over tenants).
    grid_factors : mapping of int to GridFactor
        Location-based factor per calendar year.
    residual_factor_kg_per_kwh : float, optional
        Market-based residual factor (default: the grid factor).
    targets : sequence of Target
        Targets to report progress against (tenant: its RE100 year).

    Returns
    -------
    Account
    """
    monthly = summarise(hourly, "MS", grid_factors, residual_factor_kg_per_kwh)
    annual = summarise(hourly, "YS", grid_factors, residual_factor_kg_per_kwh)
    return Account(
        name=name,
        hourly=hourly,
        monthly=monthly,
        annual=annual,
        progress=_progress(annual, targets),
        grid_factors=dict(grid_factors),
        residual_factor_kg_per_kwh=residual_factor_kg_per_kwh,
    )


def park_account(
    name: str,
    tenants: Sequence[Account],
    targets: Sequence[Target] = PARK_TARGETS,
) -> Account:
    """The park's account: tenants' hourly balances summed, then ledgered.

    On-site surplus of one tenant is not netted against another's load here:
    the park's balance is the sum of the tenants' balances, so the park's CFE
    score is the sum of tenants' matched energy over the park's load.
    """
    if not tenants:
        raise DataError("a park account needs at least one tenant")
    hourly = sum((t.hourly for t in tenants[1:]), tenants[0].hourly.copy())
    assert isinstance(hourly, pd.DataFrame)
    first = tenants[0]
    return account(
        name, hourly, first.grid_factors, first.residual_factor_kg_per_kwh, targets=targets
    )
