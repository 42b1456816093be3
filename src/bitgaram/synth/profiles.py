"""Base shapes of the synthetic park, taken from real measured profiles.

The sample park (CityLearn 2022 phase 1, five buildings, one year hourly) gives
the *shapes*: each building's load divided by its mean (dimensionless, mean 1)
and the park's PV generation per kW of peak (``kWh/h`` per kWp, at most 1).
Magnitudes, time shifts, shift patterns and noise are added by
:mod:`bitgaram.synth.park`; nothing here depends on the number of tenants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.errors import DataError


@dataclass(frozen=True)
class BaseProfiles:
    """Dimensionless hourly shapes of one year.

    Attributes
    ----------
    index : pandas.DatetimeIndex
        Naive local interval starts of the source (hourly, regular).
    load_shapes : numpy.ndarray
        Load of each source building divided by its mean, shape (n_hours, n_shapes) [-].
    pv_per_kwp : numpy.ndarray
        Mean PV generation of the source per kW of its peak, shape (n_hours,) [kWh/kWp per h].
    """

    index: pd.DatetimeIndex
    load_shapes: np.ndarray
    pv_per_kwp: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.index)
        if self.load_shapes.ndim != 2 or self.load_shapes.shape[0] != n:
            raise DataError("load_shapes must have shape (len(index), n_shapes)")
        if self.pv_per_kwp.shape != (n,):
            raise DataError("pv_per_kwp must have shape (len(index),)")
        if n < 24 * 7:
            raise DataError(f"base profiles need at least one week of hours, got {n}")


def base_profiles(load_kw: np.ndarray, pv_kw: np.ndarray, index: pd.DatetimeIndex) -> BaseProfiles:
    """Normalise measured hourly profiles into shapes.

    Parameters
    ----------
    load_kw : numpy.ndarray
        Hourly load of each building, shape (n_hours, n_buildings) [kW].
    pv_kw : numpy.ndarray
        Hourly PV generation of each building, shape (n_hours, n_buildings) [kW].
    index : pandas.DatetimeIndex
        Naive local interval starts (hourly).

    Returns
    -------
    BaseProfiles
        Buildings whose mean load is not positive are dropped.

    Raises
    ------
    DataError
        If no building has a positive mean load, or no PV is generated.

    Examples
    --------
    >>> idx = pd.date_range("2024-01-01", periods=24 * 7, freq="h")
    >>> load = np.tile(np.r_[np.ones(12), 3 * np.ones(12)], 7)[:, None]
    >>> base_profiles(load, np.clip(np.sin(np.arange(168) / 24 * 2 * np.pi), 0, None)[:, None],
    ...               idx).load_shapes.mean()
    np.float64(1.0)
    """
    load = np.nan_to_num(np.asarray(load_kw, dtype=float), nan=0.0).clip(min=0.0)
    means = load.mean(axis=0)
    keep = means > 0
    if not keep.any():
        raise DataError("base profiles: no building has a positive mean load")
    shapes = load[:, keep] / means[keep]
    pv = np.nan_to_num(np.asarray(pv_kw, dtype=float), nan=0.0).clip(min=0.0).mean(axis=1)
    peak = pv.max()
    if peak <= 0:
        raise DataError("base profiles: the PV profile is zero")
    return BaseProfiles(pd.DatetimeIndex(index), shapes, pv / peak)


def read_base_profiles(path: str | Path) -> BaseProfiles:
    """Shapes of a CityLearn dataset folder (e.g. ``data/citylearn_2022_phase_1``).

    Raises
    ------
    DataError
        If the dataset cannot be read or holds no usable profiles.
    """
    data = read_citylearn(path)
    return base_profiles(data.load_matrix(), data.pv_matrix(), data.index)
