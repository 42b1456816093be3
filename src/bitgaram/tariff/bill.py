"""Monthly bills, line by line like a KEPCO bill.

A bill of one month has the lines

1. ``demand``: billing demand [kW] x demand rate (기본요금);
2. ``demand_excess``: kW of maximum demand above contract power x demand rate x excess multiplier;
3. ``energy_<period>``: energy of each TOU period [kWh] x its rate (전력량요금);
4. ``discount_<name>``: energy-charge discounts (negative);
5. one line per per-kWh adder (기후환경요금, 연료비조정요금);

then ``subtotal`` (전기요금계), ``fund`` (전력산업기반기금), ``vat`` (부가가치세) and ``total``
(청구금액). Rounding follows the tariff's ``[rounding]`` table; the KEPCO files state the rule
assumed here (KEPCO's own sheet not checked): each line truncated to 1 KRW, the subtotal the sum
of rounded lines, fund = subtotal x 3.7 % truncated to 10 KRW, VAT = subtotal x 10 % rounded half
up to 1 KRW, total = subtotal + fund + VAT truncated to 10 KRW.

Readings are energy per interval [kWh] indexed by interval start. Energy is priced by the period
of its interval start, so readings must not straddle period boundaries: intervals of at most one
hour (periods change on the hour). Negative readings (export) are refused: these tariffs do not
credit export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bitgaram.errors import DataError
from bitgaram.tariff.demand import (
    BillingDemand,
    billing_demand,
    demand_series,
    monthly_max_demand,
    reading_step,
)
from bitgaram.tariff.rules import Adder, DemandRules, Rounding, Taxes

#: Codes and labels of the rows after the charge lines.
_TAX_LINES = (("subtotal", "전기요금계"), ("fund", "전력기반기금"), ("vat", "부가가치세"))

#: Longest reading interval that can be priced by period (periods change on whole hours).
MAX_ENERGY_STEP = pd.Timedelta(hours=1)


class BillingTariff(Protocol):
    """The interface every tariff offers (:class:`TouTariff`, :class:`PriceSeriesTariff`).

    ``energy_rate(timestamps)`` [currency/kWh] is what optimisers use; the rest is what
    :func:`compute_bills` needs. Both tariffs also have ``bill(energy_kwh, ...)``, which calls
    :func:`compute_bills` on themselves. Variants are frozen dataclasses: derive one with
    :func:`dataclasses.replace`, e.g. reading demand in every hour::

        replace(t, demand_rules=replace(t.demand_rules, excluded_periods=()))
    """

    @property
    def name(self) -> str: ...
    @property
    def option(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def periods(self) -> tuple[str, ...]: ...
    @property
    def period_labels(self) -> Mapping[str, str]: ...
    @property
    def demand_rules(self) -> DemandRules: ...
    @property
    def taxes(self) -> Taxes: ...
    @property
    def rounding(self) -> Rounding: ...
    @property
    def adders(self) -> tuple[Adder, ...]: ...

    def local_index(self, timestamps: object) -> pd.DatetimeIndex: ...
    def energy_rate(
        self, timestamps: object, *, adders: bool = True, discounts: bool = True
    ) -> NDArray[np.float64]: ...
    def period_index(self, timestamps: object) -> NDArray[np.intp]: ...
    def base_energy_rate(self, timestamps: object) -> NDArray[np.float64]: ...
    def discounts(self, timestamps: object) -> list[tuple[str, str, NDArray[np.float64]]]: ...
    def adder_rates(self, timestamps: object) -> list[tuple[str, str, NDArray[np.float64]]]: ...
    def demand_rate(self, month: pd.Period) -> float: ...


@dataclass(frozen=True)
class BillLine:
    """One charge line.

    Attributes
    ----------
    code : str
        Stable identifier (``demand``, ``energy_peak``, ``climate_environment``, ...).
    label : str
        Human label (Korean for KEPCO lines).
    quantity : float
        kW for demand lines, kWh for energy lines.
    unit : str
        Unit of ``quantity``.
    rate : float
        Average rate [currency per unit] (amount before rounding / quantity; 0 if no quantity).
    amount : float
        Amount after line rounding [currency].
    """

    code: str
    label: str
    quantity: float
    unit: str
    rate: float
    amount: float


@dataclass(frozen=True)
class MonthlyBill:
    """The bill of one meter (tenant or park) for one calendar month.

    Attributes
    ----------
    meter, tariff, option, currency : str
        Who, on which tariff option, in which currency.
    month : pandas.Period
        Billed calendar month (local time).
    contract_kw : float or None
        Contract power [kW].
    energy_kwh : float
        Energy billed [kWh].
    max_demand_kw : float
        Maximum demand of the month, excluded periods ignored [kW].
    billing_demand_kw : float
        Billing demand [kW]; ``billing_demand_basis`` says whether the month itself, the
        ratchet or the contract floor set it.
    lines : tuple of BillLine
        Charge lines; ``subtotal``, ``fund``, ``vat`` and ``total`` [currency] follow.
    """

    meter: str
    month: pd.Period
    tariff: str
    option: str
    currency: str
    contract_kw: float | None
    energy_kwh: float
    max_demand_kw: float
    billing_demand_kw: float
    billing_demand_basis: str
    lines: tuple[BillLine, ...]
    subtotal: float
    fund: float
    vat: float
    total: float

    def line(self, code: str) -> BillLine:
        """The line with ``code``; KeyError if the bill has none."""
        for ln in self.lines:
            if ln.code == code:
                return ln
        raise KeyError(f"bill has no line {code!r}; lines: {[ln.code for ln in self.lines]}")

    def amount(self, code: str) -> float:
        """Amount of line ``code``, or of ``subtotal``/``fund``/``vat``/``total`` [currency]."""
        if code in ("subtotal", "fund", "vat", "total"):
            return float(getattr(self, code))
        return self.line(code).amount

    def to_frame(self) -> pd.DataFrame:
        """Lines then subtotal, fund, VAT and total as a DataFrame (one row per line)."""
        return bills_to_frame([self])


def bills_to_frame(bills: Iterable[MonthlyBill]) -> pd.DataFrame:
    """Bills as one long DataFrame.

    Columns: ``meter, month, tariff, option, currency, code, label, quantity, unit, rate,
    amount``; ``month`` as ``"YYYY-MM"``.
    """
    rows: list[dict[str, object]] = []
    for b in bills:
        base = {
            "meter": b.meter,
            "month": str(b.month),
            "tariff": b.tariff,
            "option": b.option,
            "currency": b.currency,
        }
        for ln in b.lines:
            rows.append(
                base
                | {
                    "code": ln.code,
                    "label": ln.label,
                    "quantity": ln.quantity,
                    "unit": ln.unit,
                    "rate": ln.rate,
                    "amount": ln.amount,
                }
            )
        for code, label in _TAX_LINES:
            rows.append(
                base
                | {
                    "code": code,
                    "label": label,
                    "quantity": np.nan,
                    "unit": "",
                    "rate": np.nan,
                    "amount": float(getattr(b, code)),
                }
            )
        rows.append(
            base
            | {
                "code": "total",
                "label": "청구금액",
                "quantity": b.energy_kwh,
                "unit": "kWh",
                "rate": np.nan,
                "amount": b.total,
            }
        )
    columns = ["meter", "month", "tariff", "option", "currency", "code", "label"]
    columns += ["quantity", "unit", "rate", "amount"]
    return pd.DataFrame(rows, columns=columns)


def _energy_series(energy_kwh: pd.Series, tariff: BillingTariff, what: str) -> pd.Series:
    if not isinstance(energy_kwh.index, pd.DatetimeIndex):
        raise DataError(f"{what}: energy readings must be indexed by timestamps")
    values = pd.to_numeric(energy_kwh, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise DataError(f"{what}: {int((~np.isfinite(values)).sum())} readings are not numbers")
    if (values < 0).any():
        first = energy_kwh.index[int(np.argmax(values < 0))]
        raise DataError(
            f"{what}: negative energy at {first}; bills take imports >= 0 [kWh] (export is not "
            "credited by these tariffs)"
        )
    index = tariff.local_index(energy_kwh.index)
    order = np.argsort(index.to_numpy(), kind="stable")
    return pd.Series(values[order], index=index[order])


def compute_bills(
    tariff: BillingTariff,
    energy_kwh: pd.Series,
    *,
    contract_kw: float | None = None,
    demand_kw: pd.Series | None = None,
    demand_history: Mapping[pd.Period, float] | None = None,
    meter: str = "meter",
    excess_multiplier: float | None = None,
    allow_hourly_demand: bool = False,
) -> tuple[MonthlyBill, ...]:
    """Bill every calendar month present in the readings of one meter.

    Parameters
    ----------
    tariff : TouTariff or PriceSeriesTariff
        The tariff option.
    energy_kwh : pandas.Series
        Energy per interval [kWh] indexed by interval start, at most hourly intervals.
    contract_kw : float, optional
        Contract power [kW] for the billing-demand floor and the excess surcharge.
    demand_kw : pandas.Series, optional
        Interval demand [kW] (e.g. the sum of tenants' 15-min demands for a park); computed
        from ``energy_kwh`` when omitted.
    demand_history : Mapping[pandas.Period, float], optional
        Maximum demand [kW] of months before the readings (for the ratchet); months in the
        readings override it.
    meter : str
        Name carried by the bills.
    excess_multiplier : float, optional
        Overrides the tariff's contract-excess surcharge multiple (e.g. 2.0 for a repeat).
    allow_hourly_demand : bool
        Accept readings coarser than the demand interval (approximate demand, see
        :mod:`bitgaram.tariff.demand`).

    Returns
    -------
    tuple of MonthlyBill
        One per calendar month of the readings, in order.

    Raises
    ------
    DataError
        Unusable readings (not timestamps, negative, coarser than an hour, ...).
    """
    energy = _energy_series(energy_kwh, tariff, meter)
    step = reading_step(pd.DatetimeIndex(energy.index), f"{meter} readings")
    if step > MAX_ENERGY_STEP:
        raise DataError(
            f"{meter}: readings every {step} cannot be priced by time-of-use period; "
            "give readings of one hour or finer"
        )
    rules = tariff.demand_rules
    if demand_kw is None:
        demand = demand_series(
            energy,
            kind="energy",
            interval_minutes=rules.interval_minutes,
            allow_coarse=allow_hourly_demand,
            step=step,
        )
    else:
        demand = pd.Series(
            demand_kw.to_numpy(dtype=float), index=tariff.local_index(demand_kw.index)
        )
    maxima = monthly_max_demand(demand, tariff, rules.excluded_periods)
    history: dict[pd.Period, float] = dict(demand_history or {})
    history.update(zip(pd.PeriodIndex(maxima.index), maxima.to_numpy(dtype=float), strict=True))
    multiplier = rules.excess_multiplier if excess_multiplier is None else excess_multiplier

    index = pd.DatetimeIndex(energy.index)
    months = index.to_period("M")
    rates = _IntervalRates(
        values=energy.to_numpy(),
        base=tariff.base_energy_rate(index),
        period=tariff.period_index(index),
        discounts=tariff.discounts(index),
        adders=tariff.adder_rates(index),
    )
    bills = []
    for month in pd.PeriodIndex(months.unique()).sort_values():
        bd = billing_demand(month, history, rules, contract_kw)
        sel = np.asarray(months == month)
        lines = [
            *_demand_lines(tariff, month, bd, contract_kw, multiplier),
            *_energy_lines(tariff, rates, sel),
        ]
        subtotal = float(sum(ln.amount for ln in lines))
        fund = tariff.rounding.fund.apply(subtotal * tariff.taxes.fund_fraction)
        vat = tariff.rounding.vat.apply(subtotal * tariff.taxes.vat_fraction)
        total = tariff.rounding.total.apply(subtotal + fund + vat)
        bills.append(
            MonthlyBill(
                meter=meter,
                month=month,
                tariff=tariff.name,
                option=tariff.option,
                currency=tariff.currency,
                contract_kw=contract_kw,
                energy_kwh=float(rates.values[sel].sum()),
                max_demand_kw=bd.current_max_kw,
                billing_demand_kw=bd.billing_kw,
                billing_demand_basis=bd.basis,
                lines=tuple(lines),
                subtotal=subtotal,
                fund=fund,
                vat=vat,
                total=total,
            )
        )
    return tuple(bills)


@dataclass(frozen=True)
class _IntervalRates:
    """Per-interval energy [kWh] and what prices it (local time-of-use lookups, done once)."""

    values: np.ndarray
    base: np.ndarray
    period: np.ndarray
    discounts: Sequence[tuple[str, str, np.ndarray]]
    adders: Sequence[tuple[str, str, np.ndarray]]


def _demand_lines(
    tariff: BillingTariff,
    month: pd.Period,
    bd: BillingDemand,
    contract_kw: float | None,
    multiplier: float,
) -> list[BillLine]:
    """The month's demand charge and, above the contract, its excess surcharge."""
    d_rate = tariff.demand_rate(month)
    if not d_rate > 0:  # no demand charge (NaN included)
        return []
    line_round = tariff.rounding.line.apply
    amount = line_round(bd.billing_kw * d_rate)
    lines = [BillLine("demand", "기본요금", bd.billing_kw, "kW", d_rate, amount)]
    if contract_kw is not None and multiplier > 0 and bd.current_max_kw > contract_kw:
        excess = bd.current_max_kw - contract_kw
        rate = d_rate * multiplier
        lines.append(
            BillLine(
                "demand_excess",
                "계약전력 초과 부가금",
                excess,
                "kW",
                rate,
                line_round(excess * rate),
            )
        )
    return lines


def _energy_lines(tariff: BillingTariff, rates: _IntervalRates, sel: np.ndarray) -> list[BillLine]:
    """The month's energy charge per period, its discounts and its per-kWh adders."""
    line_round = tariff.rounding.line.apply
    e = rates.values[sel]
    charge = e * rates.base[sel]
    lines: list[BillLine] = []
    for k, period in enumerate(tariff.periods):
        in_p = rates.period[sel] == k
        kwh = float(e[in_p].sum())
        raw = float(charge[in_p].sum())
        label = f"전력량요금 {tariff.period_labels.get(period, period)}"
        rate = raw / kwh if kwh > 0 else 0.0
        lines.append(BillLine(f"energy_{period}", label, kwh, "kWh", rate, line_round(raw)))
    for name, label, frac in rates.discounts:
        f = frac[sel]
        if (f > 0).any():
            kwh = float(e[f > 0].sum())
            raw = -float((charge * f).sum())
            rate = raw / kwh if kwh > 0 else 0.0
            lines.append(BillLine(f"discount_{name}", label, kwh, "kWh", rate, line_round(raw)))
    total_kwh = float(e.sum())
    for name, label, add in rates.adders:
        raw = float((e * add[sel]).sum())
        rate = raw / total_kwh if total_kwh > 0 else 0.0
        lines.append(BillLine(name, label, total_kwh, "kWh", rate, line_round(raw)))
    return lines


@dataclass(frozen=True)
class ParkBill:
    """Monthly bills of every tenant and of the park's grid connection.

    The park is billed as one meter: its energy is the tenants' total and its demand the sum
    of their interval demands (the coincident peak), on the park's contract power. Tenant bills
    are what each tenant would pay alone on the same tariff (shadow bills).
    """

    tenants: tuple[MonthlyBill, ...]
    park: tuple[MonthlyBill, ...]

    def to_frame(self) -> pd.DataFrame:
        """Tenant bills then park bills as one long DataFrame (see :func:`bills_to_frame`)."""
        return bills_to_frame([*self.tenants, *self.park])


def bill_park(
    tariff: BillingTariff,
    readings: pd.DataFrame,
    *,
    contract_kw: float | None = None,
    tenant_contract_kw: Mapping[str, float] | None = None,
    demand_history: Mapping[str, Mapping[pd.Period, float]] | None = None,
    park_name: str = "park",
    allow_hourly_demand: bool = False,
    excess_multiplier: float | None = None,
) -> ParkBill:
    """Bill each tenant and the whole park from long-format readings.

    Parameters
    ----------
    tariff : TouTariff or PriceSeriesTariff
        Tariff option of every meter.
    readings : pandas.DataFrame
        Columns ``meter`` (tenant name), ``timestamp`` (interval start) and ``kwh`` [kWh].
    contract_kw : float, optional
        Contract power of the park connection [kW].
    tenant_contract_kw : Mapping[str, float], optional
        Contract power per tenant [kW]; tenants absent get no floor and no excess surcharge.
    demand_history : Mapping[str, Mapping[pandas.Period, float]], optional
        Earlier monthly maximum demand [kW] per meter name (``park_name`` for the park).
    park_name : str
        Meter name of the park bills.
    allow_hourly_demand, excess_multiplier
        As in :func:`compute_bills`.

    Returns
    -------
    ParkBill
    """
    missing = {"meter", "timestamp", "kwh"} - set(readings.columns)
    if missing:
        raise DataError(f"readings lack columns {sorted(missing)} (need meter, timestamp, kwh)")
    tenant_contract_kw = tenant_contract_kw or {}
    demand_history = demand_history or {}
    tenants: list[MonthlyBill] = []
    demands: list[pd.Series] = []
    energies: list[pd.Series] = []
    for meter, group in readings.groupby("meter", sort=True):
        name = str(meter)
        energy = pd.Series(
            pd.to_numeric(group["kwh"], errors="coerce").to_numpy(dtype=float),
            index=pd.DatetimeIndex(group["timestamp"]),
        ).sort_index()
        local = _energy_series(energy, tariff, name)
        step = reading_step(pd.DatetimeIndex(local.index), f"{name} readings")
        demand = demand_series(
            local,
            interval_minutes=tariff.demand_rules.interval_minutes,
            allow_coarse=allow_hourly_demand,
            step=step,
        )
        tenants.extend(
            compute_bills(
                tariff,
                local,
                contract_kw=tenant_contract_kw.get(name),
                demand_kw=demand,
                demand_history=demand_history.get(name),
                meter=name,
                excess_multiplier=excess_multiplier,
                allow_hourly_demand=allow_hourly_demand,
            )
        )
        demands.append(demand)
        energies.append(local)
    if not energies:
        raise DataError("no readings to bill")
    park_energy = pd.concat(energies).groupby(level=0).sum()
    # A tenant without a reading in an interval contributes nothing to the park demand there.
    park_demand = pd.concat(demands, axis=1).fillna(0.0).sum(axis=1)
    park = compute_bills(
        tariff,
        park_energy,
        contract_kw=contract_kw,
        demand_kw=park_demand,
        demand_history=demand_history.get(park_name),
        meter=park_name,
        excess_multiplier=excess_multiplier,
        allow_hourly_demand=allow_hourly_demand,
    )
    return ParkBill(tenants=tuple(tenants), park=park)
