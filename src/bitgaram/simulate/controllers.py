"""Reference controllers: no battery use, and a rule-based controller.

The model-predictive controller lives in :mod:`bitgaram.optimize.mpc`, the
perfect-foresight bound in :mod:`bitgaram.optimize.oracle`.
"""

from __future__ import annotations

import numpy as np

from bitgaram.site.controller import Observation
from bitgaram.site.data import SiteData


class NoBatteryController:
    """Never uses the batteries (the CityLearn baseline)."""

    def __init__(self) -> None:
        self.name = "none"
        self._n = 0

    def prepare(self, site: SiteData) -> None:
        """Remember the number of batteries."""
        self._n = int(site.battery_buildings.size)

    def act(self, obs: Observation) -> np.ndarray:
        """Zero energy for every battery."""
        return np.zeros(self._n)


class RuleController:
    """Self-consumption rule: store PV surplus, cover the net load from storage.

    The expected no-battery net load of each battery building at step ``t``
    is the measured one at the same time the day before (``t - period``); a
    surplus (negative) is charged, a deficit (positive) discharged, each
    limited by the battery's power (the simulator clips it). Needs no forecast
    model and no tuning.

    Parameters
    ----------
    period : int
        Steps per day.
    """

    def __init__(self, period: int = 24) -> None:
        self.name = "rule"
        self.period = period
        self._cols = np.zeros(0, dtype=int)

    def prepare(self, site: SiteData) -> None:
        """Remember which buildings have batteries."""
        self._cols = site.battery_buildings

    def act(self, obs: Observation) -> np.ndarray:
        """Charge the expected surplus, discharge into the expected deficit [kWh]."""
        t = obs.t
        if t < self.period:
            return np.zeros(self._cols.size)
        expected = (
            obs.load_kwh[t - self.period, self._cols] - obs.pv_kwh[t - self.period, self._cols]
        )
        return np.asarray(-expected, dtype=float)
