"""The site model: a park, its tenants, meters and assets, validated with pydantic.

A site file (TOML) describes a park once; every other capability reads it.
Units are fixed by :class:`Unit`; energy meters report kWh per interval and
power meters report the average kW over the interval (see ``docs/glossary.md``).

Example site file::

    [site]
    id = "cheomdan"
    name = "Cheomdan industrial complex"
    timezone = "Asia/Seoul"
    latitude = 35.22
    longitude = 126.84
    tariff = { name = "kepco-industrial-b-high-a", option = "II", contract_kw = 2000 }
    carbon = { factor = "kr-grid" }

    [[tenants]]
    id = "acme"
    name = "ACME Motors"

    [[meters]]
    id = "acme-load"
    tenant = "acme"
    kind = "load"
    unit = "kWh"
    resolution = "15min"

    [[assets]]
    type = "battery"
    id = "acme-ess"
    tenant = "acme"
    capacity_kwh = 500
    power_kw = 250
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bitgaram.errors import ConfigError, validation_message

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class MeterKind(StrEnum):
    """What a meter measures."""

    GRID_IMPORT = "grid_import"
    GRID_EXPORT = "grid_export"
    GRID_NET = "grid_net"
    LOAD = "load"
    PV = "pv"
    WIND = "wind"
    BATTERY = "battery"
    EV_CHARGER = "ev_charger"
    DATA_CENTRE = "data_centre"
    PRICE = "price"
    CARBON_INTENSITY = "carbon_intensity"
    WEATHER = "weather"


class Unit(StrEnum):
    """Units a meter may report in. Energy units are summed when resampled, others averaged."""

    KWH = "kWh"
    KW = "kW"
    KRW_PER_KWH = "KRW/kWh"
    USD_PER_KWH = "USD/kWh"
    KGCO2_PER_KWH = "kgCO2/kWh"
    DEGC = "degC"
    W_PER_M2 = "W/m2"
    PERCENT = "%"
    M_PER_S = "m/s"

    @property
    def is_energy(self) -> bool:
        """True for quantities that add up over time (kWh per interval)."""
        return self is Unit.KWH


#: Meter kinds whose values may legitimately be negative: net or bidirectional flows, and
#: prices (wholesale and export prices go below zero in markets with surplus renewables).
SIGNED_KINDS = frozenset(
    {MeterKind.GRID_NET, MeterKind.BATTERY, MeterKind.EV_CHARGER, MeterKind.PRICE}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TariffRef(_Model):
    """Which tariff a site or tenant pays (resolved by :mod:`bitgaram.tariff`)."""

    name: str
    option: str | None = None
    contract_kw: float | None = Field(default=None, gt=0)


class CarbonRef(_Model):
    """Where grid carbon intensity comes from: a dated factor set or a stored series."""

    factor: str = "kr-grid"
    series_meter: str | None = None


class Tenant(_Model):
    """A company of the park."""

    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    name: str
    sector: str | None = None
    floor_area_m2: float | None = Field(default=None, gt=0)
    re100_target_year: int | None = Field(default=None, ge=2020, le=2100)
    tariff: TariffRef | None = None


class Meter(_Model):
    """A metering point.

    ``tenant`` is ``None`` for site-level series (park connection, price,
    carbon intensity, weather). ``resolution`` is the native interval, e.g.
    ``"15min"`` or ``"1h"``. ``max_value`` bounds plausible readings in
    ``unit``; readings above it are quarantined as spikes.
    """

    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    kind: MeterKind
    unit: Unit
    tenant: str | None = None
    resolution: str = "1h"
    description: str | None = None
    max_value: float | None = Field(default=None, gt=0)

    @field_validator("resolution")
    @classmethod
    def _valid_resolution(cls, value: str) -> str:
        try:
            delta = pd.Timedelta(value)
        except ValueError as exc:
            raise ValueError(f"not a duration: {value!r} (use e.g. '15min', '1h')") from exc
        if delta <= pd.Timedelta(0):
            raise ValueError("must be positive")
        return value

    @property
    def resolution_seconds(self) -> int:
        """Native interval [s]."""
        return int(pd.Timedelta(self.resolution).total_seconds())

    @property
    def allows_negative(self) -> bool:
        """Whether negative values are physically possible for this meter."""
        return self.kind in SIGNED_KINDS or self.unit in (Unit.DEGC,)


class _Asset(_Model):
    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    tenant: str | None = None
    meter: str | None = None


class BatteryAsset(_Asset):
    """Battery energy storage (ESS)."""

    type: Literal["battery"] = "battery"
    capacity_kwh: float = Field(gt=0)
    power_kw: float = Field(gt=0)
    charge_efficiency: float = Field(default=0.95, gt=0, le=1)
    discharge_efficiency: float = Field(default=0.95, gt=0, le=1)
    soc_min: float = Field(default=0.0, ge=0, le=1)
    soc_max: float = Field(default=1.0, ge=0, le=1)
    initial_soc: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _soc_order(self) -> BatteryAsset:
        if self.soc_min >= self.soc_max:
            raise ValueError("soc_min must be below soc_max")
        return self


class PVAsset(_Asset):
    """Photovoltaic array."""

    type: Literal["pv"] = "pv"
    kwp: float = Field(gt=0)
    tilt_deg: float = Field(default=20.0, ge=0, le=90)
    azimuth_deg: float = Field(default=180.0, ge=0, lt=360)


class WindAsset(_Asset):
    """Wind turbine(s) with a power curve."""

    type: Literal["wind"] = "wind"
    rated_kw: float = Field(gt=0)
    hub_height_m: float = Field(default=80.0, gt=0)
    cut_in_m_s: float = Field(default=3.0, ge=0)
    rated_m_s: float = Field(default=12.0, gt=0)
    cut_out_m_s: float = Field(default=25.0, gt=0)
    count: int = Field(default=1, ge=1)


class EVChargerAsset(_Asset):
    """EV charging hub (optionally V2G)."""

    type: Literal["ev_charger"] = "ev_charger"
    chargers: int = Field(ge=1)
    power_kw: float = Field(gt=0)
    v2g: bool = False


class DataCentreAsset(_Asset):
    """Data centre: IT load with PUE, part of it deferrable."""

    type: Literal["data_centre"] = "data_centre"
    it_capacity_kw: float = Field(gt=0)
    pue: float = Field(default=1.4, ge=1)
    deferrable_share: float = Field(default=0.0, ge=0, le=1)


Asset = Annotated[
    BatteryAsset | PVAsset | WindAsset | EVChargerAsset | DataCentreAsset,
    Field(discriminator="type"),
]


class SiteInfo(_Model):
    """The park itself."""

    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    name: str
    timezone: str = "UTC"
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    tariff: TariffRef | None = None
    carbon: CarbonRef = CarbonRef()
    connection_limit_kw: float | None = Field(default=None, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name like 'Asia/Seoul')"
            ) from exc
        return value


class Site(_Model):
    """A whole park: site info, tenants, meters and assets, cross-checked."""

    site: SiteInfo
    tenants: tuple[Tenant, ...] = ()
    meters: tuple[Meter, ...] = ()
    assets: tuple[Asset, ...] = ()

    @model_validator(mode="after")
    def _cross_references(self) -> Site:
        tenant_ids = [t.id for t in self.tenants]
        _unique(tenant_ids, "tenants")
        meter_ids = [m.id for m in self.meters]
        _unique(meter_ids, "meters")
        _unique([a.id for a in self.assets], "assets")
        known_tenants = set(tenant_ids)
        known_meters = set(meter_ids)
        for i, meter in enumerate(self.meters):
            if meter.tenant is not None and meter.tenant not in known_tenants:
                raise ValueError(f"meters[{i}].tenant: unknown tenant {meter.tenant!r}")
        for i, asset in enumerate(self.assets):
            if asset.tenant is not None and asset.tenant not in known_tenants:
                raise ValueError(f"assets[{i}].tenant: unknown tenant {asset.tenant!r}")
            if asset.meter is not None and asset.meter not in known_meters:
                raise ValueError(f"assets[{i}].meter: unknown meter {asset.meter!r}")
        return self

    def meter(self, meter_id: str) -> Meter:
        """The meter with this id; raises ConfigError if unknown."""
        for meter in self.meters:
            if meter.id == meter_id:
                return meter
        raise ConfigError(f"site {self.site.id!r} has no meter {meter_id!r}")

    def tenant(self, tenant_id: str) -> Tenant:
        """The tenant with this id; raises ConfigError if unknown."""
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        raise ConfigError(f"site {self.site.id!r} has no tenant {tenant_id!r}")

    def meters_of(self, tenant_id: str | None) -> tuple[Meter, ...]:
        """Meters of one tenant (``None``: site-level meters)."""
        return tuple(m for m in self.meters if m.tenant == tenant_id)


def _unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            raise ValueError(f"{where}[{i}].id: duplicate id {item!r}")
        seen.add(item)


def parse_site(data: dict[str, object], source: str = "<site>") -> Site:
    """Validate a site description given as a mapping.

    Parameters
    ----------
    data : dict
        The parsed site file (``site``, ``tenants``, ``meters``, ``assets``).
    source : str
        Name used in error messages (usually the file path).

    Returns
    -------
    Site

    Raises
    ------
    ConfigError
        With one line per bad field: ``source: path.to.field: reason``.
    """
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, source)) from exc


def load_site(path: str | Path) -> Site:
    """Read and validate a TOML site file.

    Parameters
    ----------
    path : str or pathlib.Path
        The site file.

    Returns
    -------
    Site

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, or a field is invalid (the
        message gives the file and the path of the field).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read site file: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    return parse_site(data, str(file))
