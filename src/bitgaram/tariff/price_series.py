"""A tariff given as a price per interval (e.g. CityLearn ``pricing.csv``, day-ahead prices).

The price of a timestamp is the price of the interval that contains it (the last price label at
or before it), so readings finer than the price series are priced correctly. There is one period
(``"energy"``); an optional flat demand rate and taxes make it billable like any TOU tariff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bitgaram.errors import DataError
from bitgaram.tariff.billing import MonthlyBilling
from bitgaram.tariff.daytype import to_local_index
from bitgaram.tariff.rules import Adder, DemandRules, Rounding, Taxes

if TYPE_CHECKING:
    from bitgaram.datasets.citylearn import CityLearnDataset


@dataclass(frozen=True, eq=False)
class PriceSeriesTariff(MonthlyBilling):
    """Energy priced by a time series [currency/kWh].

    Attributes
    ----------
    name, currency : str
        Identity and currency of the prices (e.g. ``"USD"``).
    prices : pandas.Series
        Price per interval [currency/kWh], indexed by naive local interval-start timestamps
        (sorted, unique, regular spacing).
    timezone : str or None
        Timezone of the index, used to convert timezone-aware timestamps.
    flat_demand_rate : float
        Demand charge on the monthly maximum demand [currency/kW/month] (0: none).
    """

    name: str
    currency: str
    prices: pd.Series
    timezone: str | None = None
    flat_demand_rate: float = 0.0
    taxes: Taxes = field(default_factory=Taxes)
    rounding: Rounding = field(default_factory=Rounding)
    demand_rules: DemandRules = field(default_factory=DemandRules)
    option: str = "-"
    periods: tuple[str, ...] = ("energy",)
    period_labels: Mapping[str, str] = field(default_factory=lambda: {"energy": "energy"})
    adders: tuple[Adder, ...] = ()

    def __post_init__(self) -> None:
        index = self.prices.index
        if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
            raise DataError(f"price series {self.name!r}: need a DatetimeIndex of >= 2 prices")
        if not index.is_monotonic_increasing or index.has_duplicates:
            raise DataError(f"price series {self.name!r}: timestamps must be sorted and unique")
        if not np.isfinite(self.prices.to_numpy(dtype=float)).all():
            raise DataError(f"price series {self.name!r}: prices must be finite numbers")

    @classmethod
    def from_citylearn(
        cls, dataset: CityLearnDataset, name: str = "citylearn"
    ) -> PriceSeriesTariff:
        """The electricity price of a CityLearn dataset [USD/kWh]."""
        prices = pd.Series(np.asarray(dataset.price, dtype=float), index=dataset.index)
        return cls(name=name, currency="USD", prices=prices)

    @property
    def step(self) -> pd.Timedelta:
        """Spacing of the price series (median)."""
        index = pd.DatetimeIndex(self.prices.index)
        return pd.Timedelta(np.median(np.diff(index.to_numpy())))

    def local_index(self, timestamps: object) -> pd.DatetimeIndex:
        """Timestamps as naive local time."""
        return to_local_index(timestamps, self.timezone)

    def base_energy_rate(self, timestamps: object) -> NDArray[np.float64]:
        """Price of the interval containing each timestamp [currency/kWh]."""
        index = self.local_index(timestamps)
        labels = pd.DatetimeIndex(self.prices.index)
        pos = np.searchsorted(labels.to_numpy(), index.to_numpy(), side="right") - 1
        end = labels[-1] + self.step
        bad = (pos < 0) | (index >= end)
        if bad.any():
            raise DataError(
                f"price series {self.name!r} covers {labels[0]} to {end}; "
                f"no price for {index[int(np.argmax(bad))]}"
            )
        return np.asarray(self.prices.to_numpy(dtype=float)[pos], dtype=np.float64)

    def energy_rate(
        self, timestamps: object, *, adders: bool = True, discounts: bool = True
    ) -> NDArray[np.float64]:
        """Price of each timestamp before taxes [currency/kWh] (``adders``/``discounts`` unused)."""
        return self.base_energy_rate(timestamps)

    def period_index(self, timestamps: object) -> NDArray[np.intp]:
        """Always period 0 (``"energy"``)."""
        return np.zeros(len(self.local_index(timestamps)), dtype=np.intp)

    def discounts(self, timestamps: object) -> list[tuple[str, str, NDArray[np.float64]]]:
        """No discounts."""
        return []

    def adder_rates(self, timestamps: object) -> list[tuple[str, str, NDArray[np.float64]]]:
        """No adders."""
        return []

    def demand_rate(self, month: pd.Period) -> float:
        """The flat demand rate [currency/kW/month]."""
        return self.flat_demand_rate
