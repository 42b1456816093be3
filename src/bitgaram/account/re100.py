"""RE share, 24/7 carbon-free energy score and progress toward RE100 targets.

Definitions (``shared/reference/carbon_re100.md``)::

    RE share = renewable kWh / consumed kWh               (annual, volumetric: the RE100 claim)
    CFE      = sum_h min(load_h, CF supply_h) / sum_h load_h   (hourly, same grid, same hour)

A K-RE100 claim needs at least 20 % renewable share. Targets named in the
regional plans: companies RE100 by 2030; Gwangju all-renewable electricity by
2035.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bitgaram.errors import DataError

#: Smallest renewable share for the K-RE100 label [-].
K_RE100_MIN_SHARE = 0.20


@dataclass(frozen=True)
class Target:
    """A renewable-electricity target.

    Attributes
    ----------
    name : str
        Who set it.
    year : int
        Year by which ``share`` is to be reached.
    share : float
        Renewable share to reach [-] (1.0 = 100 %).
    """

    name: str
    year: int
    share: float = 1.0


#: Default tenant target: the companies' RE100-by-2030 goal of the regional plan.
COMPANY_TARGET = Target("companies RE100 (regional plan)", 2030)
#: City target: all electricity renewable by 2035 (Gwangju).
CITY_TARGET = Target("Gwangju 100 % renewable electricity", 2035)
#: Targets a park is measured against.
PARK_TARGETS = (COMPANY_TARGET, CITY_TARGET)


def re_share(renewable_kwh: float, consumption_kwh: float) -> float:
    """Volumetric renewable share, capped at 1 [-].

    Examples
    --------
    >>> re_share(30.0, 120.0)
    0.25
    """
    if consumption_kwh < 0 or renewable_kwh < 0:
        raise DataError("energy for an RE share must be non-negative")
    if consumption_kwh == 0:
        return float("nan")
    return min(renewable_kwh / consumption_kwh, 1.0)


def cfe_matched(load_kwh: npt.ArrayLike, cf_supply_kwh: npt.ArrayLike) -> np.ndarray:
    """Carbon-free energy matched hour by hour, ``min(load_h, supply_h)`` [kWh]."""
    load = np.asarray(load_kwh, dtype=float)
    supply = np.asarray(cf_supply_kwh, dtype=float)
    if load.shape != supply.shape:
        raise DataError(f"load and supply differ in length: {load.shape} vs {supply.shape}")
    return np.minimum(np.clip(load, 0, None), np.clip(supply, 0, None))


def cfe_score(load_kwh: npt.ArrayLike, cf_supply_kwh: npt.ArrayLike) -> float:
    """Hourly 24/7 carbon-free energy score [-].

    Parameters
    ----------
    load_kwh : array_like
        Consumption per hour [kWh].
    cf_supply_kwh : array_like
        Carbon-free supply available to the load in the same hour [kWh].

    Returns
    -------
    float
        ``sum min(load, supply) / sum load``; NaN without consumption.

    Examples
    --------
    >>> cfe_score([2.0, 2.0], [3.0, 0.0])
    0.5
    """
    load = np.asarray(load_kwh, dtype=float)
    total = float(np.clip(load, 0, None).sum())
    if total == 0:
        return float("nan")
    return float(cfe_matched(load, cf_supply_kwh).sum() / total)


@dataclass(frozen=True)
class Progress:
    """Where a tenant or the park stands against a target in a reporting year.

    Attributes
    ----------
    target : Target
    year : int
        Reporting year.
    consumption_kwh : float
        Consumption in the year [kWh].
    renewable_kwh : float
        Renewable electricity claimed in the year [kWh].
    re_share : float
        Annual RE share [-].
    gap_kwh : float
        Renewable energy still missing to meet the target share at this
        year's consumption [kWh].
    years_left : int
        ``target.year - year``.
    required_pp_per_year : float
        Share points per year needed from now to reach the target on time
        (NaN once the target year has passed) [percentage points/year].
    k_re100_eligible : bool
        Share at least :data:`K_RE100_MIN_SHARE`.
    """

    target: Target
    year: int
    consumption_kwh: float
    renewable_kwh: float
    re_share: float
    gap_kwh: float
    years_left: int
    required_pp_per_year: float
    k_re100_eligible: bool

    @property
    def met(self) -> bool:
        """True when the share reaches the target."""
        return self.re_share >= self.target.share - 1e-12


def progress(target: Target, year: int, consumption_kwh: float, renewable_kwh: float) -> Progress:
    """Progress toward ``target`` from one year's totals.

    Examples
    --------
    >>> p = progress(Target("t", 2030), 2025, 1000.0, 250.0)
    >>> (p.gap_kwh, p.required_pp_per_year)
    (750.0, 15.0)
    """
    share = re_share(renewable_kwh, consumption_kwh)
    gap = max(target.share * consumption_kwh - renewable_kwh, 0.0)
    left = target.year - year
    missing = max(target.share - share, 0.0) if np.isfinite(share) else target.share
    pace = 100.0 * missing / left if left > 0 else float("nan")
    return Progress(
        target=target,
        year=year,
        consumption_kwh=consumption_kwh,
        renewable_kwh=renewable_kwh,
        re_share=share,
        gap_kwh=gap,
        years_left=left,
        required_pp_per_year=pace,
        k_re100_eligible=bool(np.isfinite(share) and share >= K_RE100_MIN_SHARE),
    )
