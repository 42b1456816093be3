"""Electricity tariffs as data: time-of-use periods, demand charges and monthly bills.

Tariffs are TOML files with effective dates (``bitgaram/tariff/data``), validated with pydantic
at the boundary and compiled into frozen lookup tables. Every tariff answers the same small
interface: ``energy_rate(timestamps)`` [currency/kWh] and ``bill(energy_kwh, ...)`` (monthly
bills, line by line).

>>> from bitgaram.tariff import load_tariff
>>> tariff = load_tariff("kepco-industrial-eul-high-a", option="I")
>>> tariff.period(["2026-08-03 16:00", "2026-08-08 16:00", "2026-08-09 16:00"]).tolist()
['peak', 'mid', 'light']
"""

from bitgaram.tariff.bill import (
    BillingTariff,
    BillLine,
    MonthlyBill,
    ParkBill,
    bill_park,
    bills_to_frame,
    compute_bills,
)
from bitgaram.tariff.demand import BillingDemand, billing_demand, demand_series, monthly_max_demand
from bitgaram.tariff.load import list_tariffs, load_tariff, read_tariff_file
from bitgaram.tariff.marginal import DemandChargeSlope, demand_charge_slope, marginal_demand_charge
from bitgaram.tariff.price_series import PriceSeriesTariff
from bitgaram.tariff.tou import TouTariff

#: Any tariff: the small interface shared by TOU and price-series tariffs.
Tariff = BillingTariff

__all__ = [
    "BillLine",
    "BillingDemand",
    "BillingTariff",
    "DemandChargeSlope",
    "MonthlyBill",
    "ParkBill",
    "PriceSeriesTariff",
    "Tariff",
    "TouTariff",
    "bill_park",
    "billing_demand",
    "bills_to_frame",
    "compute_bills",
    "demand_charge_slope",
    "demand_series",
    "list_tariffs",
    "load_tariff",
    "marginal_demand_charge",
    "monthly_max_demand",
    "read_tariff_file",
]
