"""Schemas of sites, tenants and meters."""

from __future__ import annotations

from pydantic import BaseModel

from bitgaram.site.model import Meter, MeterKind, SiteInfo, Tenant, Unit


class SitePublic(BaseModel):
    """A park as the API shows it."""

    id: str
    name: str
    timezone: str
    latitude: float | None
    longitude: float | None
    connection_limit_kw: float | None
    contract_kw: float | None
    n_tenants: int
    n_meters: int

    @classmethod
    def of(cls, info: SiteInfo, n_tenants: int, n_meters: int) -> SitePublic:
        """From the site model, counting only what the caller may see."""
        return cls(
            id=info.id,
            name=info.name,
            timezone=info.timezone,
            latitude=info.latitude,
            longitude=info.longitude,
            connection_limit_kw=info.connection_limit_kw,
            contract_kw=info.tariff.contract_kw if info.tariff else None,
            n_tenants=n_tenants,
            n_meters=n_meters,
        )


class TenantPublic(BaseModel):
    """A tenant company."""

    id: str
    name: str
    sector: str | None
    floor_area_m2: float | None
    re100_target_year: int | None

    @classmethod
    def of(cls, tenant: Tenant) -> TenantPublic:
        """From the site model."""
        return cls(
            id=tenant.id,
            name=tenant.name,
            sector=tenant.sector,
            floor_area_m2=tenant.floor_area_m2,
            re100_target_year=tenant.re100_target_year,
        )


class MeterPublic(BaseModel):
    """A metering point."""

    id: str
    kind: MeterKind
    unit: Unit
    tenant: str | None
    resolution: str
    description: str | None

    @classmethod
    def of(cls, meter: Meter) -> MeterPublic:
        """From the site model."""
        return cls(
            id=meter.id,
            kind=meter.kind,
            unit=meter.unit,
            tenant=meter.tenant,
            resolution=meter.resolution,
            description=meter.description,
        )
