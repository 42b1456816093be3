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
    # Optional site-level defaults (see docs/sites.md); derived when absent:
    # country = "KR"        # ISO 3166; default: the timezone's country
    # holidays = "KR"       # public-holiday calendar; default: country ("none": off)
    # currency = "KRW"      # ISO 4217; default: the country's currency

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
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
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
    """Where grid carbon intensity comes from: a dated factor set or a stored series.

    ``factor`` names a factor id or family of :mod:`bitgaram.account.factors`
    (``"kr-grid"``); None: the family of the site's country when one is
    packaged (see :attr:`SiteInfo.grid_factor`).
    """

    factor: str | None = None
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


class _DeviceLink(_Model):
    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    asset: str


class OcppDevice(_DeviceLink):
    """An EV charger reached over OCPP 1.6J or 2.0.1 (it connects to the central system).

    ``protocol`` is the version it speaks (a connection on the other one is refused);
    ``charge_point_id`` is the last path segment of its websocket URL (default: ``id``);
    ``safe_kw`` is the rate of the default profile it keeps when the link is lost [kW].
    """

    protocol: Literal["ocpp1.6", "ocpp2.0.1"] = "ocpp1.6"
    charge_point_id: str | None = None
    max_kw: float = Field(gt=0)
    safe_kw: float = Field(ge=0)
    meter: str | None = None

    @model_validator(mode="after")
    def _safe_within_max(self) -> OcppDevice:
        if self.safe_kw > self.max_kw:
            raise ValueError("safe_kw must not exceed max_kw")
        return self


class ModbusDevice(_DeviceLink):
    """A PCS or PV inverter written over Modbus TCP.

    ``model`` is a register map (shipped name or path), or ``sunspec:103,123`` for a SunSpec
    device holding those models one after the other from register 40000; ``setpoint`` its
    writable register; ``measured``/``soc`` the registers read back; ``min_kw``/``max_kw``
    narrow the map's limits; ``safe_kw`` is written when the plan expires; ``watchdog`` says
    the device falls back by itself (no renewals); ``rating_kw`` is what ``%`` registers refer
    to (default: the asset's power or kWp); ``enable`` registers are written before each
    setpoint (``{"123.WMaxLim_Ena" = 1}``).
    """

    protocol: Literal["modbus"] = "modbus"
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=247)
    model: str
    setpoint: str
    measured: str | None = None
    soc: str | None = None
    min_kw: float | None = None
    max_kw: float | None = None
    safe_kw: float = 0.0
    watchdog: bool = False
    renew_s: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    rating_kw: float | None = Field(default=None, gt=0)
    enable: dict[str, float] = Field(default_factory=dict)


class OpenAdrDevice(_DeviceLink):
    """The park's OpenADR 2.0b VEN and the VTN it registers with (``asset``: ``park``).

    ``level_caps_kw`` maps SIMPLE signal levels to import caps [kW].
    """

    protocol: Literal["openadr2.0b"] = "openadr2.0b"
    vtn_url: str
    ven_name: str
    min_notice_s: float = Field(default=0.0, ge=0)
    min_target_kw: float = Field(default=0.0, ge=0)
    level_caps_kw: dict[int, float] = Field(default_factory=dict)
    report_s: float = Field(default=60.0, gt=0)


Device = Annotated[OcppDevice | ModbusDevice | OpenAdrDevice, Field(discriminator="protocol")]

#: Asset types each protocol can drive (``park``: the whole site, for the VEN).
_DEVICE_ASSETS = {
    "ocpp1.6": ("ev_charger",),
    "ocpp2.0.1": ("ev_charger",),
    "modbus": ("battery", "pv"),
    "openadr2.0b": ("park",),
}


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
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    subdivision: str | None = None
    holidays: str | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None

    @property
    def country_code(self) -> str | None:
        """ISO 3166 country of the site: ``country``, else the country of its timezone.

        None for zones of no single country (``UTC``, ``Etc/GMT+9``).
        """
        return self.country if self.country is not None else country_of_timezone(self.timezone)

    @property
    def holiday_country(self) -> str | None:
        """Public-holiday calendar (``holidays``, else the site's country; None: no holidays).

        ``holidays = "none"`` in the site file turns holidays off.
        """
        if self.holidays is not None:
            return None if self.holidays.lower() == "none" else self.holidays
        return self.country_code

    @property
    def currency_code(self) -> str:
        """ISO 4217 currency of the site's money figures.

        ``currency``, else the country's currency (:data:`CURRENCY_BY_COUNTRY`).

        Raises
        ------
        ConfigError
            If the file names no currency and the country's is not known.
        """
        if self.currency is not None:
            return self.currency
        country = self.country_code
        if country in CURRENCY_BY_COUNTRY:
            return CURRENCY_BY_COUNTRY[country]
        raise ConfigError(
            f"site {self.id!r}: no currency for country {country or '(none)'}; "
            'set currency = "XXX" (ISO 4217) in [site]'
        )

    @property
    def grid_factor(self) -> str:
        """Grid emission factor id or family used when no carbon series meter is set.

        ``carbon.factor``, else ``"<country>-grid"`` (``"kr-grid"`` for a Korean site).
        The family must exist in the factor file; :mod:`bitgaram.account.factors`
        refuses an unknown one with the list of known ids.

        Raises
        ------
        ConfigError
            If the file names no factor and the site has no country (a ``UTC`` zone).
        """
        if self.carbon.factor is not None:
            return self.carbon.factor
        country = self.country_code
        if country is None:
            raise ConfigError(
                f'site {self.id!r}: no grid emission factor: set country = "XX" or '
                'carbon = { factor = "..." } (or series_meter) in [site]'
            )
        return f"{country.lower()}-grid"

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


#: Currency of a country's electricity bills (ISO 4217), for sites whose file names none.
CURRENCY_BY_COUNTRY: dict[str, str] = {
    "KR": "KRW",
    "US": "USD",
    "JP": "JPY",
    "CN": "CNY",
    "TW": "TWD",
    "IN": "INR",
    "AU": "AUD",
    "CA": "CAD",
    "GB": "GBP",
    "CH": "CHF",
    **dict.fromkeys(
        ("AT", "BE", "DE", "ES", "FI", "FR", "GR", "IE", "IT", "LU", "NL", "PT"), "EUR"
    ),
}


def _zone_tab() -> str:
    """The tz database's ``zone.tab`` (the tzdata package's copy, else the system's)."""
    try:
        from importlib.resources import files

        return (files("tzdata.zoneinfo") / "zone.tab").read_text(encoding="utf-8")
    except (ImportError, OSError):
        return Path("/usr/share/zoneinfo/zone.tab").read_text(encoding="utf-8")


@cache
def _country_by_zone() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = _zone_tab()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            out[parts[2]] = parts[0]
    return out


def country_of_timezone(timezone: str) -> str | None:
    """ISO 3166 country of an IANA zone (``zone.tab``), None for zones of no country.

    Examples
    --------
    >>> country_of_timezone("Asia/Seoul"), country_of_timezone("America/Los_Angeles")
    ('KR', 'US')
    >>> country_of_timezone("UTC") is None
    True
    """
    return _country_by_zone().get(timezone)


class Site(_Model):
    """A whole park: site info, tenants, meters and assets, cross-checked."""

    site: SiteInfo
    tenants: tuple[Tenant, ...] = ()
    meters: tuple[Meter, ...] = ()
    assets: tuple[Asset, ...] = ()
    devices: tuple[Device, ...] = ()

    @model_validator(mode="after")
    def _device_links(self) -> Site:
        _unique([d.id for d in self.devices], "devices")
        kinds: dict[str, str] = {a.id: a.type for a in self.assets}
        kinds["park"] = "park"
        meters = {m.id for m in self.meters}
        for i, dev in enumerate(self.devices):
            if isinstance(dev, OcppDevice) and dev.meter is not None and dev.meter not in meters:
                raise ValueError(f"devices[{i}].meter: unknown meter {dev.meter!r}")
            kind = kinds.get(dev.asset)
            if kind is None:
                raise ValueError(f"devices[{i}].asset: unknown asset {dev.asset!r}")
            if kind not in _DEVICE_ASSETS[dev.protocol]:
                raise ValueError(
                    f"devices[{i}].asset: {dev.protocol} cannot drive a {kind} asset "
                    f"({dev.asset!r}); it drives {', '.join(_DEVICE_ASSETS[dev.protocol])}"
                )
        return self

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


#: Sections of a site file that belong to the components using it, not to the site model:
#: the collector's (:mod:`bitgaram.collect.config`) and ``bitgaram run``'s
#: (:mod:`bitgaram.service.config`); each is validated where it is used.
COMPONENT_SECTIONS = ("collect", "service")


def read_site_file(path: str | Path) -> tuple[Site, dict[str, Any]]:
    """Read a TOML site file: the validated site and the components' own sections.

    Parameters
    ----------
    path : str or pathlib.Path
        The site file.

    Returns
    -------
    tuple of (Site, dict)
        The site, and the raw :data:`COMPONENT_SECTIONS` present in the file, by name.

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, or a field of the site is invalid (the message
        gives the file and the path of the field).
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
    sections = {name: data.pop(name) for name in COMPONENT_SECTIONS if name in data}
    return parse_site(data, str(file)), sections


def load_site(path: str | Path) -> Site:
    """Read and validate a TOML site file (its :data:`COMPONENT_SECTIONS` are left out).

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
    return read_site_file(path)[0]
