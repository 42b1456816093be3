"""Read meter data for verification and accounting (the input edge).

Three sources: a CityLearn 2022 dataset folder (each building is one meter and
one tenant), wide CSV files (a ``timestamp`` column plus one column per meter,
kWh per interval) and the bitgaram store (:func:`from_store`: readings per
meter, tenants from the stored site model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.errors import DataError
from bitgaram.site import Site, choose_site_id


@dataclass(frozen=True, eq=False)
class MeterData:
    """Hourly meters and site series, whatever the source.

    Attributes
    ----------
    energy_kwh : pandas.DataFrame
        One column per meter [kWh per hour].
    temperature_c : pandas.Series or None
        Outdoor temperature [degC].
    price : pandas.Series or None
        Energy price [currency/kWh].
    carbon_intensity : pandas.Series or None
        Grid carbon intensity [kgCO2/kWh].
    onsite_kwh : pandas.DataFrame or None
        On-site renewable generation per meter column [kWh per hour].
    holidays : frozenset of datetime.date
        Days off besides weekends.
    tenants : dict of str to str
        Meter (energy or on-site column) -> tenant; absent columns are their
        own tenant.
    """

    energy_kwh: pd.DataFrame
    temperature_c: pd.Series | None = None
    price: pd.Series | None = None
    carbon_intensity: pd.Series | None = None
    onsite_kwh: pd.DataFrame | None = None
    holidays: frozenset[date] = frozenset()
    tenants: dict[str, str] = field(default_factory=dict)

    def tenant_of(self, column: str) -> str:
        """Tenant of a meter column (the column itself when unmapped)."""
        return self.tenants.get(column, column)


def from_citylearn(path: str | Path) -> MeterData:
    """Meters (non-shiftable load), PV, weather, price and intensity of a CityLearn dataset.

    Parameters
    ----------
    path : str or pathlib.Path
        Dataset folder.

    Returns
    -------
    MeterData
        Columns named after the buildings; day type 8 marks holidays.
    """
    ds = read_citylearn(path)
    names = ds.building_names
    energy = pd.DataFrame(ds.load_matrix(), index=ds.index, columns=names)
    onsite = pd.DataFrame(ds.pv_matrix(), index=ds.index, columns=names)
    temp = None
    if "outdoor_dry_bulb_temperature" in ds.weather:
        temp = ds.weather["outdoor_dry_bulb_temperature"].astype(float)
    hol = ds.index[ds.calendar["day_type"].to_numpy() == 8]
    return MeterData(
        energy_kwh=energy,
        temperature_c=temp,
        price=pd.Series(ds.price, index=ds.index, name="price"),
        carbon_intensity=pd.Series(ds.carbon_intensity, index=ds.index, name="carbon_intensity"),
        onsite_kwh=onsite,
        holidays=frozenset(pd.DatetimeIndex(hol).normalize().date),
    )


def read_wide_csv(path: str | Path, timestamp_column: str = "timestamp") -> pd.DataFrame:
    """Read a wide CSV: a timestamp column and numeric columns.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV file.
    timestamp_column : str
        Column of interval-start timestamps (ISO 8601; timezone-aware values
        are converted to naive local time of their own offset).

    Returns
    -------
    pandas.DataFrame
        Float columns indexed by a sorted DatetimeIndex.

    Raises
    ------
    DataError
        If the file, the timestamp column or a numeric value is bad (the
        message names line and column).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    try:
        raw = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot parse CSV: {exc}") from exc
    if timestamp_column not in raw:
        raise DataError(f"{p}: missing column '{timestamp_column}'")
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(raw[timestamp_column]))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{p}: column '{timestamp_column}': bad timestamp: {exc}") from exc
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    frame = raw.drop(columns=[timestamp_column])
    out = pd.DataFrame(index=stamps)
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise DataError(f"{p}: line {line}, column '{col}': not a number")
        out[str(col)] = values.to_numpy(float)
    if out.index.has_duplicates:
        raise DataError(f"{p}: duplicate timestamp {out.index[out.index.duplicated()][0]}")
    return out.sort_index()


def from_csv(
    energy: str | Path,
    temperature_column: str = "temperature_c",
    onsite: str | Path | None = None,
    price_column: str = "price",
    intensity_column: str = "carbon_intensity",
) -> MeterData:
    """Meters from a wide CSV; site series are taken from named columns if present.

    Parameters
    ----------
    energy : str or pathlib.Path
        CSV with ``timestamp``, one column per meter [kWh per interval] and
        optionally the temperature, price and intensity columns.
    temperature_column, price_column, intensity_column : str
        Names of the site columns (removed from the meters).
    onsite : str or pathlib.Path, optional
        CSV of on-site generation with the same meter columns [kWh].

    Returns
    -------
    MeterData
    """
    frame = read_wide_csv(energy)
    site = {}
    for col in (temperature_column, price_column, intensity_column):
        if col in frame:
            site[col] = frame.pop(col)
    if frame.empty or not len(frame.columns):
        raise DataError(f"{energy}: no meter columns besides timestamp and site series")
    gen = read_wide_csv(onsite).reindex(frame.index).fillna(0.0) if onsite else None
    return MeterData(
        energy_kwh=frame,
        temperature_c=site.get(temperature_column),
        price=site.get(price_column),
        carbon_intensity=site.get(intensity_column),
        onsite_kwh=gen,
    )


#: Meter kinds read as on-site renewable generation.
ONSITE_KINDS = ("pv", "wind")


def consumption_meter_ids(site: Site, tenant: str | None) -> list[str]:
    """Meters measuring a tenant's consumption: its ``load`` meters, else its ``grid_import``.

    One rule for both verification and accounting, so a tenant with both a
    main import meter and load sub-meters is not counted twice.
    """
    meters = site.meters_of(tenant)
    loads = [m.id for m in meters if m.kind == "load"]
    return loads or [m.id for m in meters if m.kind == "grid_import"]


def _first(site: Site, kind: str, unit: str | None = None) -> str | None:
    for m in site.meters:
        if m.kind == kind and (unit is None or m.unit == unit):
            return m.id
    return None


def from_store(
    url: str | Path,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    tenant: str | None = None,
    site_id: str | None = None,
) -> MeterData:
    """Hourly consumption, on-site generation and site series from the store.

    Parameters
    ----------
    url : str or pathlib.Path
        Store URL or DuckDB file (see :func:`bitgaram.store.open_store`).
    start, end : str or pandas.Timestamp, optional
        Local-time period ``[start, end)`` in the site's timezone.
    tenant : str, optional
        Only this tenant's meters (default: every tenant).
    site_id : str, optional
        Site to read when the store holds several.

    Returns
    -------
    MeterData
        Timestamps in the site's timezone (zone-aware interval starts, so
        the repeated fall-back hour keeps two distinct labels); consumption
        meters per :func:`consumption_meter_ids`; on-site PV/wind meters;
        temperature from the first ``weather`` meter in degC,
        price from the first ``price`` meter, intensity from the site's
        ``carbon.series_meter`` or the first ``carbon_intensity`` meter.

    Raises
    ------
    StoreError
        If the store cannot be opened or holds no site.
    DataError
        If no consumption meter has readings in the period.
    """
    from bitgaram.store import open_store

    with open_store(url, migrate=False) as store:
        site = store.load_site(choose_site_id(store.list_sites(), site_id, where=store.url))
        tz = site.site.timezone
        tenants = [tenant] if tenant else [t.id for t in site.tenants]
        for t in tenants:
            site.tenant(t)  # raises ConfigError naming the unknown tenant
        energy_ids = [m for t in tenants for m in consumption_meter_ids(site, t)]
        onsite_ids = [m.id for t in tenants for m in site.meters_of(t) if m.kind in ONSITE_KINDS]
        intensity_id = site.site.carbon.series_meter or _first(site, "carbon_intensity")
        series_ids = {
            "temperature": _first(site, "weather", "degC"),
            "price": _first(site, "price"),
            "intensity": intensity_id,
        }
        wanted = energy_ids + onsite_ids + [i for i in series_ids.values() if i]
        if not energy_ids:
            raise DataError(f"no load or grid_import meter for tenant(s) {tenants}")

        def utc(value: str | pd.Timestamp | None) -> pd.Timestamp | None:
            if value is None:
                return None
            return pd.Timestamp(value).tz_localize(tz).tz_convert("UTC")

        long = store.read_readings(wanted, utc(start), utc(end), resolution="1h")
    if long.empty:
        raise DataError(f"{url}: no readings for meters {wanted} in the period")
    wide = long.pivot_table(index="ts", columns="meter_id", values="value", aggfunc="sum")
    stamps = pd.DatetimeIndex(wide.index)
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    wide.index = stamps
    # Complete the hours on the UTC clock (unique labels: a fall-back day has 25 hours,
    # a spring-forward day 23), then label them in local time, zone-aware.
    full = pd.date_range(stamps.min(), stamps.max(), freq="h")
    wide = wide.reindex(full)
    wide.index = pd.DatetimeIndex(wide.index).tz_convert(tz)
    present = [m for m in energy_ids if m in wide]
    if not present:
        raise DataError(f"{url}: no readings for consumption meters {energy_ids}")

    def column(meter_id: str | None) -> pd.Series | None:
        return wide[meter_id].astype(float) if meter_id and meter_id in wide else None

    onsite = [m for m in onsite_ids if m in wide]
    owner = {m.id: m.tenant or site.site.id for m in site.meters}
    return MeterData(
        energy_kwh=wide[present].astype(float),
        temperature_c=column(series_ids["temperature"]),
        price=column(series_ids["price"]),
        carbon_intensity=column(series_ids["intensity"]),
        onsite_kwh=wide[onsite].astype(float).fillna(0.0) if onsite else None,
        tenants={m: owner[m] for m in present + onsite},
    )
