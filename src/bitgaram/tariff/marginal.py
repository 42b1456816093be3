"""The demand charge as a function of the month's 15-minute peak, for optimisers.

A peak at or below the running billing demand (what the month will be billed anyway: the
ratchet, the contract floor, or a peak already set this month) costs nothing more. Each kW above
it costs the demand rate of this month and, in a ratchet month (Dec, Jan, Feb, Jul, Aug, Sep for
KEPCO), of every later month it is carried into, at most ``lookback_months`` (12). Above contract
power the excess surcharge adds ``excess_multiplier`` x demand rate per kW. So the cost is convex
piecewise linear in the peak ``P`` [kW]::

    cost(P) = rate * max(0, P - threshold_kw) + excess_rate * max(0, P - excess_threshold_kw)

which an LP/MILP models with one peak variable ``P >= grid_import[t] / 1 h`` (15-min average
power) and two non-negative slack variables. :func:`demand_charge_slope` returns those numbers.

Usage in an optimiser (per month, 15-min steps)::

    slope = demand_charge_slope(tariff, month, running_billing_kw, contract_kw=contract_kw,
                                month_max_kw=peak_so_far)
    # minimise energy cost + slope.rate * s1 + slope.excess_rate * s2
    # s.t. P >= import_kw[t] for every non-excluded step t (slope.excluded_periods),
    #      s1 >= P - slope.threshold_kw, s2 >= P - slope.excess_threshold_kw, s1, s2 >= 0

Rates are pre-tax like :meth:`TouTariff.energy_rate`; pass ``include_taxes=True`` for both or
neither. The carried months assume no higher peak later (an upper bound of the true cost);
``carry_months=0`` gives the myopic one-month value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from bitgaram.tariff.tou import TouTariff


@dataclass(frozen=True)
class DemandChargeSlope:
    """Piecewise-linear demand charge of one month as a function of its peak.

    Attributes
    ----------
    month : pandas.Period
        The month.
    threshold_kw : float
        Peaks up to this cost nothing more [kW] (running billing demand).
    rate : float
        Charge per kW of peak above ``threshold_kw`` [currency/kW], carried months included.
    excess_threshold_kw : float
        Contract power, or the month's peak so far if higher [kW]; ``inf`` without a contract.
    excess_rate : float
        Additional charge per kW above ``excess_threshold_kw`` [currency/kW].
    carry_months : int
        Later months included in ``rate``.
    excluded_periods : tuple of str
        Periods whose intervals do not count for the peak (e.g. light load).
    """

    month: pd.Period
    threshold_kw: float
    rate: float
    excess_threshold_kw: float
    excess_rate: float
    carry_months: int
    excluded_periods: tuple[str, ...]

    def cost(self, peak_kw: ArrayLike) -> NDArray[np.float64]:
        """Additional demand charge of a month peak ``peak_kw`` [currency]."""
        p = np.asarray(peak_kw, dtype=float)
        over = np.maximum(p - self.threshold_kw, 0.0)
        excess = np.maximum(p - self.excess_threshold_kw, 0.0)
        return np.asarray(self.rate * over + self.excess_rate * excess, dtype=np.float64)

    def marginal(self, peak_kw: ArrayLike) -> NDArray[np.float64]:
        """Cost of one more kW of peak at ``peak_kw`` (right derivative) [currency/kW]."""
        p = np.asarray(peak_kw, dtype=float)
        out = np.where(p >= self.threshold_kw, self.rate, 0.0)
        out = out + np.where(p >= self.excess_threshold_kw, self.excess_rate, 0.0)
        return np.asarray(out, dtype=np.float64)


def demand_charge_slope(
    tariff: TouTariff,
    month: pd.Period,
    running_billing_kw: float,
    *,
    contract_kw: float | None = None,
    month_max_kw: float = 0.0,
    carry_months: int | None = None,
    include_taxes: bool = False,
) -> DemandChargeSlope:
    """Demand charge of ``month`` as a function of its 15-min peak.

    Parameters
    ----------
    tariff : TouTariff
        Tariff option (demand rate, ratchet rules, excess multiplier).
    month : pandas.Period
        The month being scheduled (freq "M").
    running_billing_kw : float
        Billing demand the month pays already [kW]: ``billing_demand(...).billing_kw`` from
        earlier months' maxima, the contract floor and this month's peak so far.
    contract_kw : float, optional
        Contract power [kW]; no excess surcharge without it.
    month_max_kw : float
        This month's peak so far [kW]; an excess already incurred is not charged again.
    carry_months : int, optional
        Later months a new peak is billed in; default: the tariff's lookback (12) in a ratchet
        month, 0 otherwise.
    include_taxes : bool
        Multiply by ``1 + fund + VAT`` fractions.

    Returns
    -------
    DemandChargeSlope

    Examples
    --------
    >>> import pandas as pd
    >>> from bitgaram.tariff import load_tariff
    >>> t = load_tariff("kepco-industrial-eul-high-a", option="I")
    >>> s = demand_charge_slope(t, pd.Period("2026-10", "M"), 800.0, contract_kw=1000.0)
    >>> s.marginal([700.0, 900.0, 1100.0]).tolist()  # below ratchet, above it, above contract
    [0.0, 7220.0, 18050.0]
    """
    rules = tariff.demand_rules
    carry = rules.carried_months(month) if carry_months is None else carry_months
    rate = sum(tariff.demand_rate(month + k) for k in range(carry + 1))
    excess_rate = tariff.demand_rate(month) * rules.excess_multiplier
    factor = tariff.taxes.factor if include_taxes else 1.0
    threshold = max(running_billing_kw, month_max_kw)
    excess_threshold = np.inf if contract_kw is None else max(contract_kw, month_max_kw)
    return DemandChargeSlope(
        month=month,
        threshold_kw=float(threshold),
        rate=float(rate * factor),
        excess_threshold_kw=float(excess_threshold),
        excess_rate=float(excess_rate * factor) if contract_kw is not None else 0.0,
        carry_months=carry,
        excluded_periods=rules.excluded_periods,
    )


def marginal_demand_charge(
    tariff: TouTariff,
    month: pd.Period,
    running_billing_kw: float,
    peak_kw: float,
    *,
    contract_kw: float | None = None,
    month_max_kw: float = 0.0,
    carry_months: int | None = None,
    include_taxes: bool = False,
) -> float:
    """Cost of raising the month's 15-min peak by one kW at ``peak_kw`` [currency/kW].

    0 while ``peak_kw`` is below the running billing demand; see :func:`demand_charge_slope`.
    """
    slope = demand_charge_slope(
        tariff,
        month,
        running_billing_kw,
        contract_kw=contract_kw,
        month_max_kw=month_max_kw,
        carry_months=carry_months,
        include_taxes=include_taxes,
    )
    return float(slope.marginal(peak_kw))
