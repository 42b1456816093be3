"""Schemas of monthly bills and RE100 progress."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bitgaram.tariff import MonthlyBill


class BillLinePublic(BaseModel):
    """One line of a bill."""

    code: str
    label: str
    quantity: float
    unit: str
    rate: float
    amount: float


class BillPublic(BaseModel):
    """One calendar month's bill of a tenant's grid import."""

    month: str
    tariff: str
    option: str
    currency: str
    contract_kw: float | None
    energy_kwh: float
    max_demand_kw: float
    billing_demand_kw: float
    billing_demand_basis: str
    lines: list[BillLinePublic]
    subtotal: float
    fund: float
    vat: float
    total: float

    @classmethod
    def of(cls, bill: MonthlyBill) -> BillPublic:
        """From the tariff library's bill."""
        return cls(
            month=str(bill.month),
            tariff=bill.tariff,
            option=bill.option,
            currency=bill.currency,
            contract_kw=bill.contract_kw,
            energy_kwh=bill.energy_kwh,
            max_demand_kw=bill.max_demand_kw,
            billing_demand_kw=bill.billing_demand_kw,
            billing_demand_basis=bill.billing_demand_basis,
            lines=[
                BillLinePublic(
                    code=line.code,
                    label=line.label,
                    quantity=line.quantity,
                    unit=line.unit,
                    rate=line.rate,
                    amount=line.amount,
                )
                for line in bill.lines
            ],
            subtotal=bill.subtotal,
            fund=bill.fund,
            vat=bill.vat,
            total=bill.total,
        )


class Re100Public(BaseModel):
    """A tenant's renewable share this year against its RE100 target (on-site PV only)."""

    tenant_id: str
    target_name: str
    target_year: int
    target_share: float
    year: int
    start: datetime
    end: datetime
    consumption_kwh: float
    renewable_kwh: float
    re_share: float | None
    cfe_score: float | None
    gap_kwh: float
    years_left: int
    required_pp_per_year: float | None
    k_re100_eligible: bool
    met: bool
