"""The data of a site as arrays: buildings, their batteries and site series.

What a replay, a controller and a forecaster of the pipeline share
(:class:`SiteData`), below both ``optimize`` and ``simulate``; the readers that
build it live at the edges (:func:`bitgaram.simulate.site_from_citylearn`,
:func:`bitgaram.simulate.from_store.site_from_store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bitgaram.assets.battery import BatteryParams, stack
from bitgaram.errors import DataError


@dataclass(frozen=True)
class SiteData:
    """Everything a replay needs, as arrays.

    Attributes
    ----------
    names : tuple of str
        Building names (B).
    index : pandas.DatetimeIndex
        Interval-start timestamps (N).
    load_kwh, pv_kwh : numpy.ndarray
        Load and PV generation per step, (N, B) [kWh].
    price : numpy.ndarray
        Import price, (N,) [currency/kWh].
    carbon : numpy.ndarray
        Grid carbon intensity, (N,) [kgCO2/kWh].
    batteries : tuple of BatteryParams or None
        Battery of each building (None = no battery).
    pv_kwp : numpy.ndarray
        PV nominal power per building, (B,) [kWp].
    weather : pandas.DataFrame
        Weather and its forecast columns on ``index`` (may be empty).
    price_frame : pandas.DataFrame
        Price with its forecast columns on ``index`` (may hold only the price).
    step_hours : float
        Step length [h].
    holiday_country : str or None
        Public-holiday calendar of the load forecasts (ISO 3166 code; None: no holidays). A
        stored site gives its own (``[site] country``/``holidays``, else its timezone's
        country); a CityLearn directory carries no location and keeps ``"KR"``, the
        default of ``bitgaram forecast backtest --country``.
    """

    names: tuple[str, ...]
    index: pd.DatetimeIndex
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    price: np.ndarray
    carbon: np.ndarray
    batteries: tuple[BatteryParams | None, ...]
    pv_kwp: np.ndarray
    weather: pd.DataFrame = field(default_factory=pd.DataFrame)
    price_frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    step_hours: float = 1.0
    holiday_country: str | None = "KR"

    def __post_init__(self) -> None:
        n, b = len(self.index), len(self.names)
        for name in ("load_kwh", "pv_kwh"):
            if getattr(self, name).shape != (n, b):
                raise DataError(f"SiteData.{name} must have shape ({n}, {b})")
        for name in ("price", "carbon"):
            if getattr(self, name).shape != (n,):
                raise DataError(f"SiteData.{name} must have shape ({n},)")
        if len(self.batteries) != b:
            raise DataError("SiteData.batteries needs one entry (or None) per building")

    @property
    def n_steps(self) -> int:
        """Number of steps N."""
        return len(self.index)

    @property
    def net_load_kwh(self) -> np.ndarray:
        """No-battery net load ``load - PV``, (N, B) [kWh]."""
        return self.load_kwh - self.pv_kwh

    @property
    def battery_buildings(self) -> np.ndarray:
        """Positions of the buildings that have a battery."""
        return np.array([i for i, p in enumerate(self.batteries) if p is not None], dtype=int)

    def fleet(self) -> BatteryParams | None:
        """The batteries stacked into one vectorised fleet (None if there are none)."""
        params = [p for p in self.batteries if p is not None]
        return stack(params) if params else None

    def subset(self, positions: Sequence[int]) -> SiteData:
        """The buildings at ``positions`` (in that order), all steps.

        Raises
        ------
        DataError
            If a position is not a building of the site.
        """
        idx = [int(i) for i in positions]
        bad = [i for i in idx if not 0 <= i < len(self.names)]
        if bad:
            raise DataError(f"building positions {bad} are not in 0..{len(self.names) - 1}")
        return replace(
            self,
            names=tuple(self.names[i] for i in idx),
            load_kwh=self.load_kwh[:, idx],
            pv_kwh=self.pv_kwh[:, idx],
            batteries=tuple(self.batteries[i] for i in idx),
            pv_kwp=self.pv_kwp[idx],
        )

    def slice(self, start: int, stop: int) -> SiteData:
        """The steps ``start:stop`` (batteries unchanged)."""
        return SiteData(
            names=self.names,
            index=self.index[start:stop],
            load_kwh=self.load_kwh[start:stop],
            pv_kwh=self.pv_kwh[start:stop],
            price=self.price[start:stop],
            carbon=self.carbon[start:stop],
            batteries=self.batteries,
            pv_kwp=self.pv_kwp,
            weather=self.weather.iloc[start:stop] if len(self.weather) else self.weather,
            price_frame=self.price_frame.iloc[start:stop]
            if len(self.price_frame)
            else self.price_frame,
            step_hours=self.step_hours,
            holiday_country=self.holiday_country,
        )
