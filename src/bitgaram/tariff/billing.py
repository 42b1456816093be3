"""The ``bill`` method shared by every tariff kind (time-of-use, price series)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import pandas as pd

if TYPE_CHECKING:
    from bitgaram.tariff.bill import BillingTariff, MonthlyBill


class MonthlyBilling:
    """Mixin giving a tariff ``bill(...)``; the tariff must satisfy ``BillingTariff``."""

    def bill(
        self,
        energy_kwh: pd.Series,
        *,
        contract_kw: float | None = None,
        demand_kw: pd.Series | None = None,
        demand_history: Mapping[pd.Period, float] | None = None,
        meter: str = "meter",
        excess_multiplier: float | None = None,
        allow_hourly_demand: bool = False,
    ) -> tuple[MonthlyBill, ...]:
        """Monthly bills of one meter; see :func:`bitgaram.tariff.bill.compute_bills`."""
        from bitgaram.tariff.bill import compute_bills

        return compute_bills(
            cast("BillingTariff", self),
            energy_kwh,
            contract_kw=contract_kw,
            demand_kw=demand_kw,
            demand_history=demand_history,
            meter=meter,
            excess_multiplier=excess_multiplier,
            allow_hourly_demand=allow_hourly_demand,
        )
