"""Forecast every meter of a site from its stored history (pure: frames in, frames out).

:func:`forecast_site` takes hourly history of the site's meters (a wide frame
on a UTC index, as read from the store) and returns the forecasts for the
next ``horizon`` hours as a long frame with the store's forecast columns
(``meter_id, issued_at, ts, horizon, quantile, value, model``). Consumption
meters use :class:`~bitgaram.forecast.load.LightGBMLoadForecaster`, PV meters
:class:`~bitgaram.forecast.pv.PVForecaster` (site location and the linked PV
asset's kWp, tilt and azimuth; clear-sky times learned cloudiness, since the
store holds no irradiance forecasts). A model without enough history falls
back to seasonal naive. Wind needs wind-speed forecasts and is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bitgaram.errors import ConfigError, DataError, ForecastError
from bitgaram.forecast.base import DEFAULT_QUANTILES, Forecaster, ForecastResult
from bitgaram.forecast.baselines import SeasonalNaive
from bitgaram.forecast.load import LightGBMLoadForecaster
from bitgaram.forecast.pv import PVForecaster
from bitgaram.site import Site
from bitgaram.site.model import MeterKind, PVAsset
from bitgaram.store.base import Resolution, Store

#: Meter kinds forecast with the load model.
LOAD_KINDS = frozenset(
    {
        MeterKind.LOAD,
        MeterKind.GRID_IMPORT,
        MeterKind.GRID_EXPORT,
        MeterKind.GRID_NET,
        MeterKind.EV_CHARGER,
        MeterKind.DATA_CENTRE,
    }
)


#: ``country`` value meaning "the site's own holiday calendar" (from its site file).
FROM_SITE = "site"


def forecastable_meters(site: Site) -> dict[str, list[str]]:
    """Meter ids per model group: ``{"load": [...], "pv": [...]}``."""
    groups: dict[str, list[str]] = {"load": [], "pv": []}
    for m in site.meters:
        if m.kind in LOAD_KINDS:
            groups["load"].append(m.id)
        elif m.kind == MeterKind.PV:
            groups["pv"].append(m.id)
    return groups


def _local_index(index: pd.DatetimeIndex, timezone: str) -> tuple[pd.DatetimeIndex, str]:
    """Naive local wall-clock timestamps and their zone; naive UTC where DST breaks regularity."""
    local = index.tz_convert(timezone).tz_localize(None)
    if local.is_unique and local.is_monotonic_increasing and len(set(np.diff(local.asi8))) <= 1:
        return pd.DatetimeIndex(local), timezone
    return pd.DatetimeIndex(index.tz_convert("UTC").tz_localize(None)), "UTC"


def _long(result: ForecastResult, issued: pd.Timestamp, step: pd.Timedelta) -> pd.DataFrame:
    rows = []
    levels: list[tuple[float, np.ndarray]] = [(0.5, result.point)]
    levels += [(q, v) for q, v in sorted(result.quantiles.items()) if not np.isclose(q, 0.5)]
    ts = issued + step * np.arange(result.horizon)
    for q, values in levels:
        for j, meter in enumerate(result.series):
            rows.append(
                pd.DataFrame(
                    {
                        "meter_id": meter,
                        "issued_at": issued,
                        "ts": ts,
                        "horizon": np.arange(1, result.horizon + 1),
                        "quantile": q,
                        "value": values[0, :, j],
                        "model": result.name,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def forecast_site(
    site: Site,
    history: pd.DataFrame,
    horizon: int = 48,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    country: str | None = FROM_SITE,
) -> pd.DataFrame:
    """Forecasts of every load and PV meter from the end of ``history``.

    Parameters
    ----------
    site : Site
        The park (location, meters, PV assets).
    history : pandas.DataFrame
        Hourly values per meter id (columns), on a regular tz-aware UTC index
        of interval starts; missing hours are NaN. The forecast is issued at
        the end of the last interval.
    horizon : int
        Hours ahead.
    quantiles : sequence of float
        Quantile levels besides the point (median).
    country : str or None
        Holiday calendar of the load model: :data:`FROM_SITE` (default) for the
        site's own, an ISO code, or None for none.

    Returns
    -------
    pandas.DataFrame
        Columns ``meter_id, issued_at, ts, horizon, quantile, value, model``
        (``ts`` and ``issued_at`` UTC); the point forecast is quantile 0.5.

    Raises
    ------
    DataError
        If the history is not on a tz-aware hourly index.
    """
    if not isinstance(history.index, pd.DatetimeIndex) or history.index.tz is None:
        raise DataError("history must be indexed by tz-aware UTC interval starts")
    if country == FROM_SITE:
        country = site.site.holiday_country
    if len(history) < 2:
        raise DataError("history needs at least two hourly rows")
    step = pd.Timedelta(history.index[1] - history.index[0])
    issued = pd.Timestamp(history.index[-1]) + step
    local = history.copy()
    local.index, zone = _local_index(pd.DatetimeIndex(history.index), site.site.timezone)
    groups = forecastable_meters(site)
    frames = []
    origin = np.array([len(local)])
    pv_assets = {a.meter: a for a in site.assets if isinstance(a, PVAsset) and a.meter}
    for group, meters in groups.items():
        meters = [m for m in meters if m in local.columns and local[m].notna().any()]
        if not meters:
            continue
        y = local[meters]
        model: Forecaster
        if group == "load":
            model = LightGBMLoadForecaster(
                max_horizon=horizon, quantiles=quantiles, country=country
            )
        else:
            first = pv_assets.get(meters[0])
            loc = site.site
            has_loc = loc.latitude is not None and loc.longitude is not None
            model = PVForecaster(
                latitude=loc.latitude if has_loc else None,
                longitude=loc.longitude if has_loc else None,
                timezone=zone,
                tilt=first.tilt_deg if first else None,
                azimuth=first.azimuth_deg if first else None,
                kwp={m: pv_assets[m].kwp for m in meters if m in pv_assets},
                quantiles=quantiles,
                max_horizon=horizon,
            )
        try:
            model.fit(y, None)
            result = model.predict(y, origin, horizon, None, quantiles)
        except ForecastError:
            fallback = SeasonalNaive(24)
            result = fallback.fit(y).predict(y, origin, horizon, None, quantiles)
        if group == "pv":
            result = ForecastResult(
                result.origins,
                result.horizon,
                result.series,
                np.clip(result.point, 0, None),
                {q: np.clip(v, 0, None) for q, v in result.quantiles.items()},
                result.name,
            )
        frames.append(_long(result, issued, step))
    if not frames:
        return pd.DataFrame(
            columns=["meter_id", "issued_at", "ts", "horizon", "quantile", "value", "model"]
        )
    out = pd.concat(frames, ignore_index=True)
    return out[np.isfinite(out["value"].to_numpy(dtype=float))].reset_index(drop=True)


@dataclass(frozen=True)
class StoreForecast:
    """Outcome of :func:`forecast_store`.

    Attributes
    ----------
    issued_at : pandas.Timestamp
        Issue time (UTC): forecasts use readings strictly before it.
    forecasts : pandas.DataFrame
        The forecasts written (store forecast columns).
    written : int
        Rows written to the store.
    """

    issued_at: pd.Timestamp
    forecasts: pd.DataFrame
    written: int


def forecast_store(
    store: Store,
    horizon: int = 48,
    history_days: int = 120,
    issued_at: pd.Timestamp | None = None,
    country: str | None = FROM_SITE,
    site_id: str | None = None,
) -> StoreForecast:
    """Forecast every load and PV meter of a stored site and store the forecasts.

    Parameters
    ----------
    store : Store
        Holds the site and its readings; receives the forecasts.
    horizon : int
        Hours ahead.
    history_days : int
        Days of hourly history before the issue time used for fitting.
    issued_at : pandas.Timestamp, optional
        Issue time (UTC, floored to the hour); default: one hour after the last
        reading of the site's load and PV meters.
    country : str or None
        Holiday calendar of the load model: :data:`FROM_SITE` (default) for the
        site's own (:attr:`bitgaram.site.SiteInfo.holiday_country`), an ISO
        code, or None for none.
    site_id : str, optional
        Which stored site (default: the only one).

    Returns
    -------
    StoreForecast

    Raises
    ------
    ConfigError
        If the site has no load or PV meter, or the store holds none of their readings.
    """
    if horizon < 1 or history_days < 1:
        raise ConfigError("horizon and history_days must be >= 1")
    site = store.load_site(site_id)
    if country == FROM_SITE:
        country = site.site.holiday_country
    groups = forecastable_meters(site)
    meters = groups["load"] + groups["pv"]
    if not meters:
        raise ConfigError(f"site {site.site.id!r} has no load or PV meters to forecast")
    if issued_at is None:
        last = store.read_readings(meters, resolution=Resolution.HOUR)
        if last.empty:
            raise ConfigError("the store has no readings of the site's load or PV meters")
        issued_at = pd.Timestamp(last["ts"].max()) + pd.Timedelta(hours=1)
    elif issued_at.tzinfo is None:
        issued_at = issued_at.tz_localize("UTC")
    issue = issued_at.tz_convert("UTC").floor("h")
    start = issue - pd.Timedelta(days=history_days)
    long = store.read_readings(meters, start=start, end=issue, resolution=Resolution.HOUR)
    index = pd.date_range(start, issue, freq="h", inclusive="left")
    wide = long.pivot_table(index="ts", columns="meter_id", values="value", aggfunc="mean")
    wide.index = pd.DatetimeIndex(wide.index).tz_convert("UTC")
    forecasts = forecast_site(site, wide.reindex(index), horizon, country=country)
    return StoreForecast(issue, forecasts, store.write_forecasts(forecasts))
