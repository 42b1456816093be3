"""The data of a simulated site built from the store: any site, not only CityLearn data.

:func:`site_from_store` turns a stored site (its model and its readings) into
the :class:`~bitgaram.simulate.site.SiteData` the replay engine runs on, one
hourly step at a time:

- **buildings** are the tenants that have a consumption or PV meter or a
  battery; a battery or ``load`` meter of the site itself (no tenant) becomes
  one more building named ``site``. When no tenant has a consumption meter, the
  site's own grid meters are the only building.
- **load** of a building [kWh per hour]: the sum of its ``load`` meters; without
  them, its grid meters (``grid_net``, else ``grid_import - grid_export``) plus
  its PV output minus its measured ``battery`` energy (+ = charge), i.e. the
  consumption the battery under test would serve. ``wind`` output is
  subtracted from the load (the simulator knows one generator column, PV).
- **PV** [kWh per hour]: the sum of its ``pv`` meters; the nameplate ``pv_kwp``
  is the sum of its PV assets' ``kwp``, else estimated as the largest hourly
  output.
- **batteries**: the building's battery assets (several are merged into one);
  see :func:`battery_from_asset` for the two physics models.
- **price** [currency/kWh]: the site's ``price`` meter, else the energy rate of
  the site's tariff (:func:`bitgaram.tariff.load_tariff`).
- **carbon** [kgCO2/kWh]: the site's ``carbon.series_meter``, else its first
  ``carbon_intensity`` meter, else the dated grid factor named by
  ``carbon.factor`` (default: the site country's factor family, see
  :attr:`bitgaram.site.SiteInfo.grid_factor`) for each calendar year
  (:mod:`bitgaram.account.factors`).
- **weather**: the site's ``weather`` meters (measured values only).

Readings are the store's hourly resample (kWh summed, kW averaged: both give
kWh per hour). Gaps of up to :data:`MAX_GAP_STEPS` hours are interpolated
linearly; a longer gap is an error naming the meter and the first missing hour.

**Time.** The index holds naive local *standard* time (UTC plus the site
timezone's standard offset), so every day has 24 regular steps even across
daylight-saving changes; this is also the clock of CityLearn datasets, so a
CityLearn dataset imported into the store gives back its own timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from bitgaram.assets.battery import BatteryParams
from bitgaram.errors import ConfigError, DataError
from bitgaram.site.data import SiteData
from bitgaram.site.model import BatteryAsset, Meter, MeterKind, PVAsset, Site, Unit
from bitgaram.site.physics import BatteryModel, battery_params
from bitgaram.store.base import Store

#: Fewest hourly steps a simulation accepts (two days: the rule and forecast
#: baselines look one day back).
MIN_STEPS = 48

#: Longest gap in a meter's hourly readings that is interpolated [steps].
MAX_GAP_STEPS = 3

#: Step of a store simulation [h] (readings are resampled hourly).
STEP_HOURS = 1.0

#: Name of the building holding the site's own meters and batteries.
SITE_BUILDING = "site"

#: Weather meter descriptions the forecasters know (CityLearn column names).
_WEATHER_NAMES = (
    "outdoor_dry_bulb_temperature",
    "outdoor_relative_humidity",
    "diffuse_solar_irradiance",
    "direct_solar_irradiance",
)

#: Weather column of a meter without a known description, by unit.
_WEATHER_BY_UNIT = {
    Unit.DEGC: "outdoor_dry_bulb_temperature",
    Unit.PERCENT: "outdoor_relative_humidity",
}


@dataclass(frozen=True)
class BuildingMeters:
    """Which meters and assets make up one simulated building.

    Attributes
    ----------
    name : str
        Building name (tenant id, or :data:`SITE_BUILDING`).
    load : tuple of str
        ``load`` meters, summed [kWh].
    grid_net, grid_import, grid_export : tuple of str
        Grid meters, used when there is no ``load`` meter [kWh].
    pv, wind, battery : tuple of str
        PV, wind and battery meters [kWh]; battery + = charge.
    pv_kwp : float
        Nameplate PV of the building's PV assets [kWp] (0 when none is given).
    batteries : tuple of BatteryAsset
        Battery assets of the building.
    """

    name: str
    load: tuple[str, ...] = ()
    grid_net: tuple[str, ...] = ()
    grid_import: tuple[str, ...] = ()
    grid_export: tuple[str, ...] = ()
    pv: tuple[str, ...] = ()
    wind: tuple[str, ...] = ()
    battery: tuple[str, ...] = ()
    pv_kwp: float = 0.0
    batteries: tuple[BatteryAsset, ...] = ()

    @property
    def consumption(self) -> tuple[str, ...]:
        """Meters the load is computed from (``load``, else grid meters)."""
        if self.load:
            return self.load
        if self.grid_net:
            return self.grid_net
        return self.grid_import + self.grid_export

    @property
    def meter_ids(self) -> tuple[str, ...]:
        """Every meter read for this building."""
        extra = () if self.load else self.pv + self.battery
        return tuple(dict.fromkeys(self.consumption + self.pv + self.wind + extra))


@dataclass(frozen=True)
class StoreSite:
    """A stored site ready to replay.

    Attributes
    ----------
    site : Site
        The stored site model.
    data : SiteData
        Arrays of the simulated period (hourly steps).
    buildings : tuple of BuildingMeters
        Meters and assets behind each building of ``data``.
    start, end : pandas.Timestamp
        Simulated period ``[start, end)`` in UTC.
    sources : dict of str to str
        Where price, carbon and battery physics came from (for reports).
    """

    site: Site
    data: SiteData
    buildings: tuple[BuildingMeters, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    sources: dict[str, str] = field(default_factory=dict)


def battery_from_asset(
    asset: BatteryAsset, step_hours: float = STEP_HOURS, model: BatteryModel = "asset"
) -> BatteryParams:
    """Battery physics of a site-model battery (:func:`bitgaram.site.physics.battery_params`)."""
    return battery_params(asset, step_hours, model)


def _merge(params: list[BatteryParams], where: str) -> BatteryParams:
    """Several batteries of one building as one (capacities, powers and SoC added)."""
    first = params[0]
    if len(params) == 1:
        return first
    if any(p.efficiency_curve != first.efficiency_curve for p in params[1:]):
        raise ConfigError(
            f"{where}: its batteries have different efficiencies; "
            "give them the same charge/discharge efficiency to simulate them as one"
        )
    return BatteryParams(
        capacity_kwh=sum(float(p.capacity_kwh) for p in params),
        nominal_power_kw=sum(float(p.nominal_power_kw) for p in params),
        initial_soc_kwh=sum(float(p.initial_soc_kwh) for p in params),
        efficiency_curve=first.efficiency_curve,
        power_curve=first.power_curve,
        efficiency_scaling=first.efficiency_scaling,
        step_hours=first.step_hours,
    )


def building_meters(site: Site) -> tuple[BuildingMeters, ...]:
    """The simulated buildings of a site: tenants with meters or a battery, then the site.

    Raises
    ------
    DataError
        If no tenant and not the site has a consumption meter, a PV meter or a battery.
    """

    def ids(meters: tuple[Meter, ...], kind: MeterKind) -> tuple[str, ...]:
        return tuple(m.id for m in meters if m.kind == kind)

    def collect(name: str, owner: str | None, site_grid: bool) -> BuildingMeters:
        meters = site.meters_of(owner)
        pv_assets = [a for a in site.assets if isinstance(a, PVAsset) and a.tenant == owner]
        return BuildingMeters(
            name=name,
            load=ids(meters, MeterKind.LOAD),
            grid_net=ids(meters, MeterKind.GRID_NET) if site_grid else (),
            grid_import=ids(meters, MeterKind.GRID_IMPORT) if site_grid else (),
            grid_export=ids(meters, MeterKind.GRID_EXPORT) if site_grid else (),
            pv=ids(meters, MeterKind.PV),
            wind=ids(meters, MeterKind.WIND),
            battery=ids(meters, MeterKind.BATTERY),
            pv_kwp=float(sum(a.kwp for a in pv_assets)),
            batteries=tuple(
                a for a in site.assets if isinstance(a, BatteryAsset) and a.tenant == owner
            ),
        )

    tenants = [collect(t.id, t.id, site_grid=True) for t in site.tenants]
    tenants = [b for b in tenants if b.consumption or b.pv or b.batteries]
    # The site's own grid meters measure the whole park: a building of their own only
    # when no tenant is metered (else they would count the tenants twice).
    metered = any(b.consumption for b in tenants)
    own = collect(SITE_BUILDING, None, site_grid=not metered)
    if own.consumption or own.pv or own.batteries:
        name = SITE_BUILDING if SITE_BUILDING not in {t.id for t in site.tenants} else "_site"
        tenants.append(BuildingMeters(**{**vars(own), "name": name}))
    if not tenants:
        raise DataError(
            f"site {site.site.id!r} has no load, grid or PV meter and no battery to simulate; "
            "describe its meters in the site file and import their readings"
        )
    return tuple(tenants)


def _standard_offset(timezone: str, at: pd.Timestamp) -> pd.Timedelta:
    """UTC offset of the timezone's standard time at ``at`` (daylight saving removed)."""
    local = at.tz_convert(ZoneInfo(timezone)).to_pydatetime()
    offset = (local.utcoffset() or timedelta(0)) - (local.dst() or timedelta(0))
    return pd.Timedelta(offset)


def _hourly(store: Store, meter_ids: list[str], start: pd.Timestamp | None,
            end: pd.Timestamp | None) -> pd.DataFrame:  # fmt: skip
    """Hourly readings of meters as a wide frame on UTC interval starts."""
    long = store.read_readings(meter_ids, start, end, resolution="1h")
    if long.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    wide = long.pivot_table(index="ts", columns="meter_id", values="value", aggfunc="sum")
    stamps = pd.DatetimeIndex(wide.index)
    wide.index = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    return wide.astype(float)


def _utc(value: pd.Timestamp | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _period(
    store: Store,
    consumption: list[str],
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    days: float | None,
    site_id: str,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The simulated period ``[start, end)`` in whole UTC hours."""
    hour = pd.Timedelta(hours=1)
    if days is not None:
        if days <= 0:
            raise DataError(f"--days must be positive, got {days:g}")
        if start is not None and end is not None:
            raise DataError("give --end or --days, not both")
    span = pd.Timedelta(days=days) if days is not None else None
    if start is not None and end is None and span is not None:
        end = start + span
    if start is None or end is None:
        # Bounds from the consumption readings (read in the requested part only).
        seen = _hourly(store, consumption, start, end)
        if seen.empty:
            raise DataError(
                f"site {site_id!r} has no readings of its consumption meters "
                f"{consumption}" + (" in the period" if start or end else "")
                + "; import readings first (bitgaram import ...)"
            )  # fmt: skip
        covered = pd.DatetimeIndex(seen.dropna(how="all").index)
        if end is None:
            end = covered.max() + hour
        if start is None:
            start = end - span if span is not None else covered.min()
    start = start.ceil("h")
    end = end.ceil("h")
    if end <= start:
        raise DataError(f"the period is empty: start {start} is not before end {end}")
    return start, end


def _fill(frame: pd.DataFrame, required: list[str], index: pd.DatetimeIndex) -> pd.DataFrame:
    """Reindex to every hour, interpolate short gaps, refuse long ones."""
    out = frame.reindex(index)
    for column in required:
        if column not in out:
            raise DataError(
                f"meter {column!r} has no readings between {index[0]} and {index[-1]} (UTC); "
                "import them or choose a period it covers with --start/--end"
            )
    filled = out.interpolate(limit_area="inside")
    for column in out.columns:
        gaps = out[column].isna()
        # Length of the run of missing values each row belongs to: only short runs are filled.
        run = gaps.groupby((~gaps).cumsum()).transform("sum")
        out[column] = filled[column].where(~gaps | (run <= MAX_GAP_STEPS))
    for column in required:
        missing = out[column].isna().to_numpy()
        if missing.any():
            first = index[int(np.argmax(missing))]
            raise DataError(
                f"meter {column!r} misses {int(missing.sum())} of {len(index)} hourly readings "
                f"between {index[0]} and {index[-1]} (UTC), first at {first}; gaps longer than "
                f"{MAX_GAP_STEPS} h are not filled: choose a covered period with --start/--end"
            )
    return out


def _sum(frame: pd.DataFrame, meter_ids: tuple[str, ...]) -> np.ndarray:
    n = len(frame)
    if not meter_ids:
        return np.zeros(n)
    return np.asarray(frame[list(meter_ids)].to_numpy(dtype=float).sum(axis=1), dtype=float)


def _price(site: Site, frame: pd.DataFrame, utc: pd.DatetimeIndex) -> tuple[np.ndarray, str]:
    meters = [m.id for m in site.meters_of(None) if m.kind == MeterKind.PRICE]
    if meters:
        return frame[meters[0]].to_numpy(dtype=float), f"meter {meters[0]}"
    ref = site.site.tariff
    if ref is None:
        raise ConfigError(
            f"site {site.site.id!r} has no price meter and no tariff; add "
            '[site] tariff = { name = "...", option = "..." } to the site file '
            "(shipped tariffs: bitgaram bill --list-tariffs) or import a price series"
        )
    from bitgaram.tariff import load_tariff

    tariff = load_tariff(ref.name, option=ref.option)
    rate = np.asarray(tariff.energy_rate(utc.tz_convert(site.site.timezone)), dtype=float)
    return rate, f"tariff {ref.name}" + (f" option {ref.option}" if ref.option else "")


def _carbon_meter(site: Site) -> str | None:
    ref = site.site.carbon.series_meter
    if ref is not None:
        return site.meter(ref).id
    found = [m.id for m in site.meters_of(None) if m.kind == MeterKind.CARBON_INTENSITY]
    return found[0] if found else None


def _carbon(
    site: Site, frame: pd.DataFrame, utc: pd.DatetimeIndex, meter: str | None
) -> tuple[np.ndarray, str]:
    if meter is not None:
        return frame[meter].to_numpy(dtype=float), f"meter {meter}"
    from bitgaram.account.factors import grid_factor_for_year, load_grid_factors

    pool = load_grid_factors()
    name = site.site.grid_factor  # the file's factor, else the family of the site's country
    if not any(f.id == name or f.id.startswith(name) for f in pool):
        raise ConfigError(
            f"site {site.site.id!r} (country {site.site.country_code or 'unknown'}): no grid "
            f"factor {name!r} is packaged (known: {', '.join(f.id for f in pool)}); add a "
            "carbon_intensity meter or set [site] carbon = { factor = ... } or series_meter"
        )
    by_id = name in {f.id for f in pool}
    years = utc.tz_convert(site.site.timezone).year
    values = np.empty(len(utc))
    used: list[str] = []
    for year in sorted(set(int(y) for y in years)):
        factor = grid_factor_for_year(year, pool, name if by_id else None)
        if not by_id and not factor.id.startswith(name):
            raise ConfigError(
                f"site {site.site.id!r}: carbon factor {name!r} is neither a factor id nor "
                f"the family of one; known: {[f.id for f in pool]}"
            )
        values[np.asarray(years == year)] = factor.value_kg_per_kwh
        used.append(factor.id)
    return values, "factor " + ", ".join(dict.fromkeys(used))


def _weather(site: Site, frame: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    out = pd.DataFrame(index=index)
    for m in site.meters_of(None):
        if m.kind != MeterKind.WEATHER or m.id not in frame:
            continue
        if m.description in _WEATHER_NAMES:
            name = str(m.description)
        else:
            name = _WEATHER_BY_UNIT.get(m.unit, m.id)
        if name in out:
            name = m.id
        values = frame[m.id].to_numpy(dtype=float)
        out[name] = pd.Series(values, index=index).ffill().bfill().to_numpy()
    return out


def _building_flows(
    buildings: Sequence[BuildingMeters], frame: pd.DataFrame, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each building's no-battery load and PV per hour [kWh], (n, buildings) each.

    The load is the load meters' sum, else what the grid meters and the PV imply with the
    battery's own flow taken out; wind generation is netted off the load.
    """
    load = np.zeros((n, len(buildings)))
    pv = np.zeros_like(load)
    for j, b in enumerate(buildings):
        pv[:, j] = _sum(frame, b.pv)
        if b.load:
            load[:, j] = _sum(frame, b.load)
        else:
            grid = (
                _sum(frame, b.grid_net)
                if b.grid_net
                else _sum(frame, b.grid_import) - _sum(frame, b.grid_export)
            )
            load[:, j] = grid + pv[:, j] - _sum(frame, b.battery)
        load[:, j] -= _sum(frame, b.wind)
    return load, pv


def _building_batteries(
    buildings: Sequence[BuildingMeters], battery_model: BatteryModel, sid: str
) -> tuple[BatteryParams | None, ...]:
    """Each building's batteries merged into one (None without); one efficiency curve for all.

    Raises
    ------
    ConfigError
        If the buildings' batteries have different efficiency or power curves.
    """
    batteries = tuple(
        _merge(
            [battery_from_asset(a, STEP_HOURS, battery_model) for a in b.batteries],
            f"site {sid!r}, building {b.name!r}",
        )
        if b.batteries
        else None
        for b in buildings
    )
    curves = {(p.efficiency_curve, p.power_curve) for p in batteries if p is not None}
    if len(curves) > 1:
        effs = {
            b.name: round(p.efficiency_curve[0][1], 4)
            for b, p in zip(buildings, batteries, strict=True)
            if p is not None
        }
        raise ConfigError(
            f"site {sid!r}: the simulator steps all batteries with one efficiency curve, but "
            f"their round-trip efficiencies differ ({effs}); use --battery-model citylearn "
            "or give the batteries the same efficiencies"
        )
    return batteries


def site_from_store(
    store: Store,
    site_id: str | None = None,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    days: float | None = None,
    battery_model: BatteryModel = "asset",
    min_steps: int = MIN_STEPS,
) -> StoreSite:
    """Build the replay data of a stored site over a period.

    Parameters
    ----------
    store : Store
        The store holding the site model and its readings.
    site_id : str, optional
        Site to read (the only one when omitted).
    start, end : pandas.Timestamp or str, optional
        Period ``[start, end)``; naive values are UTC (the store's clock).
        Default: from the first to the last hour of the consumption readings.
    days : float, optional
        Period length [days], counted from ``start``, else back from ``end``
        (default end: the last reading). Not together with both ``start`` and ``end``.
    battery_model : {"asset", "citylearn"}
        Battery physics (see :func:`battery_from_asset`).
    min_steps : int
        Fewest hourly steps accepted.

    Returns
    -------
    StoreSite
        The site, its :class:`SiteData` (hourly, kWh per step) and the period.

    Raises
    ------
    StoreError
        If the store holds no site (or several and ``site_id`` is omitted).
    DataError
        If the site has no battery, nothing to simulate, too little history in
        the period, or a meter misses readings the period needs.
    ConfigError
        If the site has neither a price meter nor a tariff, an unknown carbon
        factor, or one building's batteries differ in efficiency.
    """
    site = store.load_site(site_id)
    sid = site.site.id
    buildings = building_meters(site)
    if not any(b.batteries for b in buildings):
        raise DataError(
            f"site {sid!r} has no battery: add a battery asset to the site file "
            '([[assets]] type = "battery", capacity_kwh, power_kw, tenant) '
            "and save it with bitgaram init --site FILE"
        )
    consumption = [m for b in buildings for m in b.consumption + b.pv]
    first, stop = _period(store, consumption, _utc(start), _utc(end), days, sid)
    utc = pd.date_range(first, stop, freq="h", inclusive="left")
    if len(utc) < min_steps:
        raise DataError(
            f"site {sid!r}: {len(utc)} hourly steps from {first} to {stop} (UTC) is too little "
            f"history; a simulation needs at least {min_steps} ({min_steps // 24} days): "
            "import more readings or widen --start/--end/--days"
        )
    building_ids = [m for b in buildings for m in b.meter_ids]
    price_ids = [m.id for m in site.meters_of(None) if m.kind == MeterKind.PRICE][:1]
    carbon_id = _carbon_meter(site)
    weather_ids = [m.id for m in site.meters_of(None) if m.kind == MeterKind.WEATHER]
    series_ids = price_ids + ([carbon_id] if carbon_id else [])
    wanted = list(dict.fromkeys(building_ids + series_ids + weather_ids))
    raw = _hourly(store, wanted, first, stop)
    frame = _fill(raw, list(dict.fromkeys(building_ids + series_ids)), utc)

    load, pv = _building_flows(buildings, frame, len(utc))
    pv_kwp = np.array(
        [
            b.pv_kwp if b.pv_kwp > 0 else float(pv[:, j].max(initial=0.0)) / STEP_HOURS
            for j, b in enumerate(buildings)
        ]
    )
    batteries = _building_batteries(buildings, battery_model, sid)
    price, price_source = _price(site, frame, utc)
    carbon, carbon_source = _carbon(site, frame, utc, carbon_id)
    for name, values in (("price", price), ("carbon intensity", carbon)):
        if not np.all(np.isfinite(values)):
            raise DataError(f"site {sid!r}: the {name} has non-finite values in the period")
    index = pd.DatetimeIndex((utc + _standard_offset(site.site.timezone, first)).tz_localize(None))
    data = SiteData(
        names=tuple(b.name for b in buildings),
        index=index,
        load_kwh=load,
        pv_kwh=pv,
        price=price,
        carbon=carbon,
        batteries=batteries,
        pv_kwp=pv_kwp,
        weather=_weather(site, frame, index),
        price_frame=pd.DataFrame({"electricity_pricing": price}, index=index),
        step_hours=STEP_HOURS,
        holiday_country=site.site.holiday_country,
    )
    sources = {
        "price": price_source,
        "carbon": carbon_source,
        "battery_model": battery_model,
        "timezone": f"{site.site.timezone} (standard time)",
        "holidays": site.site.holiday_country or "none",
    }
    return StoreSite(
        site=site, data=data, buildings=buildings, start=first, end=stop, sources=sources
    )


__all__ = [
    "MAX_GAP_STEPS",
    "MIN_STEPS",
    "BatteryModel",
    "BuildingMeters",
    "StoreSite",
    "battery_from_asset",
    "building_meters",
    "site_from_store",
]
