"""What the control loop reads at the start of each interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class EVSession:
    """A vehicle plugged in now.

    Attributes
    ----------
    id : str
        Session id.
    stored_kwh : float
        Energy in its battery now [kWh].
    required_kwh : float
        Energy needed at departure [kWh].
    capacity_kwh : float
        Battery capacity [kWh].
    departure : pandas.Timestamp
        When it leaves (UTC).
    charger_kw : float
        Charger limit [kW].
    v2g_kw : float
        Discharge limit [kW].
    efficiency : float
        One-way efficiency [-].
    """

    id: str
    stored_kwh: float
    required_kwh: float
    capacity_kwh: float
    departure: pd.Timestamp
    charger_kw: float
    v2g_kw: float = 0.0
    efficiency: float = 0.95

    def min_rate_kw(self, now: pd.Timestamp) -> float:
        """Lowest constant charging power that still meets the departure energy [kW].

        The even rate ``need / time left``, at most the charger limit: charging at it from
        now on delivers exactly the required energy at departure.

        Examples
        --------
        >>> ev = EVSession("v", 10.0, 29.0, 60.0, pd.Timestamp("2026-08-03 12:00", tz="UTC"), 11.0,
        ...                efficiency=0.95)
        >>> ev.min_rate_kw(pd.Timestamp("2026-08-03 10:00", tz="UTC"))
        10.0
        """
        hours = (self.departure - now).total_seconds() / 3600.0
        need = max(self.required_kwh - self.stored_kwh, 0.0) / self.efficiency
        if need <= 0:
            return 0.0
        if hours <= 0:
            return self.charger_kw
        return float(min(need / hours, self.charger_kw))


@dataclass(frozen=True)
class JobItem:
    """A deferrable job in the queue.

    Attributes
    ----------
    id : str
        Job id.
    power_kw : float
        Power while running [kW].
    remaining_steps : int
        Running steps left.
    earliest : pandas.Timestamp
        When it may start (UTC).
    deadline : pandas.Timestamp
        When it must be finished (UTC).
    interruptible : bool
        Whether it may pause.
    started : bool
        Whether it has run (a non-interruptible one then continues).
    priority : int
        Lower is deferred first by peak actions.
    """

    id: str
    power_kw: float
    remaining_steps: int
    earliest: pd.Timestamp
    deadline: pd.Timestamp
    interruptible: bool = True
    started: bool = False
    priority: int = 0


@dataclass(frozen=True)
class ParkSnapshot:
    """The park's state at the start of an interval.

    Attributes
    ----------
    at : pandas.Timestamp
        Start of the interval (UTC).
    firm_kw : float
        Latest measured inflexible net load (loads - PV, without the controlled assets) [kW].
    data_time : pandas.Timestamp or None
        End of the newest meter reading behind ``firm_kw`` (None: no data yet).
    battery_soc_kwh : float or None
        Stored energy of the ESS above its minimum [kWh] (None: unknown).
    evs : tuple of EVSession
        Vehicles plugged in.
    jobs : tuple of JobItem
        Jobs not finished.
    firm_forecast_kw : numpy.ndarray or None
        Forecast of ``firm_kw`` for the next steps [kW]; None = persistence.
    """

    at: pd.Timestamp
    firm_kw: float
    data_time: pd.Timestamp | None
    battery_soc_kwh: float | None = None
    evs: tuple[EVSession, ...] = ()
    jobs: tuple[JobItem, ...] = ()
    firm_forecast_kw: np.ndarray | None = None

    def data_age_s(self) -> float:
        """Age of the newest reading at ``at`` [s] (infinite without data)."""
        if self.data_time is None:
            return float("inf")
        return float((self.at - self.data_time).total_seconds())
