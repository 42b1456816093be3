"""Value types shared by every tariff: demand rules, taxes, rounding and per-kWh adders."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Relative slack when rounding down amounts computed in floating point: 1234.9999999 KRW computed
#: for an exact 1235 KRW must not lose a won.
_ROUND_EPS = 1e-9


@dataclass(frozen=True)
class RoundingRule:
    """Round an amount to a multiple of ``unit`` [currency].

    ``floor`` truncates toward zero (절사), ``half_up`` rounds halves away from zero (사사오입),
    ``none`` keeps the amount.

    Examples
    --------
    >>> RoundingRule(10, "floor").apply(1239.9)
    1230.0
    >>> RoundingRule(1, "half_up").apply(2.5)
    3.0
    """

    unit: float = 1.0
    mode: Literal["floor", "half_up", "none"] = "none"

    def apply(self, amount: float) -> float:
        """Rounded ``amount`` [currency]."""
        if self.mode == "none":
            return float(amount)
        sign = -1.0 if amount < 0 else 1.0
        units = abs(amount) / self.unit
        if self.mode == "floor":
            n = math.floor(units + _ROUND_EPS)
        else:
            n = math.floor(units + 0.5 + _ROUND_EPS)
        return sign * n * self.unit


@dataclass(frozen=True)
class Rounding:
    """How charge lines, the fund, VAT and the amount billed are rounded."""

    line: RoundingRule = RoundingRule()
    fund: RoundingRule = RoundingRule()
    vat: RoundingRule = RoundingRule()
    total: RoundingRule = RoundingRule()


@dataclass(frozen=True)
class Taxes:
    """Levies computed on the subtotal of charges [-] (e.g. fund 0.037, VAT 0.10)."""

    fund_fraction: float = 0.0
    vat_fraction: float = 0.0

    @property
    def factor(self) -> float:
        """Multiplier from a pre-tax amount to the amount billed, rounding aside [-]."""
        return 1.0 + self.fund_fraction + self.vat_fraction


@dataclass(frozen=True)
class DemandRules:
    """How the billing demand is computed.

    Attributes
    ----------
    interval_minutes : int
        Demand averaging interval [min] (15 for KEPCO).
    ratchet_months : tuple of int
        Months (1-12) of the previous ``lookback_months`` whose maximum demand still counts.
    lookback_months : int
        How many months back the ratchet looks [months].
    floor_fraction : float
        Billing demand is at least this fraction of contract power [-].
    excluded_periods : tuple of str
        Periods whose intervals are ignored when reading the maximum demand.
    excess_multiplier : float
        Surcharge on kW above contract power, as a multiple of the demand rate [-].
    """

    interval_minutes: int = 15
    ratchet_months: tuple[int, ...] = ()
    lookback_months: int = 12
    floor_fraction: float = 0.0
    excluded_periods: tuple[str, ...] = ()
    excess_multiplier: float = 0.0

    def ratchet_window(self, month: pd.Period) -> tuple[pd.Period, ...]:
        """Earlier months whose maximum demand counts in ``month``'s billing demand."""
        months = (month - k for k in range(1, self.lookback_months + 1))
        return tuple(m for m in months if m.month in self.ratchet_months)

    def carried_months(self, month: pd.Period) -> int:
        """How many later months a peak set in ``month`` can still be billed in [months]."""
        return self.lookback_months if month.month in self.ratchet_months else 0


@dataclass(frozen=True, eq=False)
class Adder:
    """A per-kWh charge on all energy with a dated rate schedule [currency/kWh]."""

    name: str
    label: str
    effective: NDArray[np.datetime64]
    rates: NDArray[np.float64]

    def rate(self, index: pd.DatetimeIndex) -> NDArray[np.float64]:
        """Rate in force at each local timestamp (0 before the first effective date)."""
        k = np.searchsorted(self.effective, index.to_numpy().astype("datetime64[D]"), side="right")
        padded = np.concatenate([[0.0], self.rates])
        return np.asarray(padded[k], dtype=np.float64)


def as_day(d: dt.date) -> np.datetime64:
    """A date as ``datetime64[D]``."""
    return np.datetime64(d, "D")
