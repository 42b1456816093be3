"""One fleet task: forecast or schedule a chunk of tenants, reading and writing the store.

A task gets a small, picklable :class:`TenantJob` (store URL, tenant ids, times)
and does its own I/O against the store, so the client never ships a park's
history through the scheduler: on several machines every worker talks to the
same PostgreSQL. The computation per tenant is pure
(:func:`forecast_tenant`, :func:`schedule_tenant`): frames in, frames out.

Schedules are stored as **forecasts of the tenant's battery meter** (kind
``battery``, kWh per hour, + = charge), model :data:`SCHEDULE_MODEL`: no new
table, the forecast key already versions plans by ``issued_at``, and
``read_forecasts(model=SCHEDULE_MODEL)`` serves the latest plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bitgaram.config import Settings
from bitgaram.errors import BitgaramError, ConfigError
from bitgaram.forecast.baselines import SeasonalNaive
from bitgaram.forecast.service import forecast_site
from bitgaram.optimize.site import HorizonInput, ObjectiveWeights, SiteProblem
from bitgaram.site import Site
from bitgaram.site.model import BatteryAsset, MeterKind
from bitgaram.store import FORECAST_COLUMNS, open_store
from bitgaram.tariff import load_tariff

#: Model name of day-ahead battery schedules in the forecasts table.
SCHEDULE_MODEL = "dayahead-lp"

#: Models of ``bitgaram fleet forecast``.
FORECAST_MODELS = ("gbm", "naive")

#: Wear cost per kWh charged or discharged [KRW/kWh]: small against KEPCO's
#: TOU spread (tens of KRW/kWh), only breaks ties and forbids charge+discharge.
THROUGHPUT_COST = 1.0


@dataclass(frozen=True)
class TenantJob:
    """A chunk of tenants to forecast or schedule (picklable, small).

    Attributes
    ----------
    store_url : str
        Store every worker opens (PostgreSQL on several machines).
    site_id : str
        Site of the tenants.
    tenant_ids : tuple of str
        Tenants of this task.
    issued_at : pandas.Timestamp
        UTC time the forecast or schedule is made for (start of the horizon).
    horizon : int
        Hours ahead.
    history_days : int
        Days of hourly history a forecast may use (before ``issued_at``).
    model : str
        Forecast model (:data:`FORECAST_MODELS`).
    """

    store_url: str
    site_id: str
    tenant_ids: tuple[str, ...]
    issued_at: pd.Timestamp
    horizon: int = 24
    history_days: int = 56
    model: str = "gbm"


@dataclass(frozen=True)
class TaskResult:
    """Outcome of one task.

    Attributes
    ----------
    tenants : int
        Tenants handled.
    rows : int
        Forecast (or schedule) rows written.
    failures : tuple of (str, str)
        ``(tenant_id, message)`` of tenants that failed (the others were written).
    """

    tenants: int
    rows: int
    failures: tuple[tuple[str, str], ...] = field(default=())


def _long(
    meter_ids: list[str], values: np.ndarray, issued: pd.Timestamp, quantile: float, model: str
) -> pd.DataFrame:
    """Rows of FORECAST_COLUMNS for an hourly (n_meters, horizon) array."""
    n, h = values.shape
    ts = pd.date_range(issued, periods=h, freq="h")
    return pd.DataFrame(
        {
            "meter_id": np.repeat(np.asarray(meter_ids, dtype=object), h),
            "issued_at": issued,
            "ts": np.tile(ts.to_numpy(), n),
            "horizon": np.tile(np.arange(1, h + 1), n),
            "quantile": quantile,
            "value": values.ravel(),
            "model": model,
        }
    )


def forecast_tenant(
    site: Site, tenant_id: str, history: pd.DataFrame, horizon: int, model: str
) -> pd.DataFrame:
    """Forecasts of one tenant's load and PV meters from its hourly history.

    Parameters
    ----------
    site : Site
        The park.
    tenant_id : str
        The tenant.
    history : pandas.DataFrame
        Hourly energy per meter [kWh] (columns: meter ids), regular tz-aware
        UTC index ending just before the issue time.
    horizon : int
        Hours ahead.
    model : {"gbm", "naive"}
        ``gbm``: :func:`bitgaram.forecast.service.forecast_site` (LightGBM
        load, pvlib PV, seasonal-naive fallback); ``naive``: same hour last
        week for load, yesterday for PV.

    Returns
    -------
    pandas.DataFrame
        :data:`~bitgaram.store.FORECAST_COLUMNS`.
    """
    mine = [
        m.id
        for m in site.meters_of(tenant_id)
        if m.kind in (MeterKind.LOAD, MeterKind.PV) and m.id in history.columns
    ]
    history = history[mine]
    if model == "gbm":
        return forecast_site(site, history, horizon=horizon)
    if model != "naive":
        raise ConfigError(f"forecast model {model!r}: use one of {', '.join(FORECAST_MODELS)}")
    issued = pd.Timestamp(history.index[-1]) + pd.Timedelta("1h")
    frames = []
    for meter_id in mine:
        period = 24 if site.meter(meter_id).kind == MeterKind.PV else 168
        y = history[[meter_id]]
        result = SeasonalNaive(period).fit(y).predict(y, np.array([len(y)]), horizon)
        frames.append(_long([meter_id], result.point[0].T, issued, 0.5, result.name))
    if not frames:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def schedule_tenant(
    battery: BatteryAsset, net_kwh: np.ndarray, price: np.ndarray
) -> tuple[np.ndarray, float]:
    """Day-ahead plan of one tenant's battery against its forecast net load.

    The tenant buys its net load at ``price`` and earns nothing for exports,
    so the battery shifts the tenant's own consumption from expensive to
    cheap hours (and never discharges beyond the load).

    Parameters
    ----------
    battery : BatteryAsset
        The tenant's battery (usable window ``soc_min..soc_max``, efficiencies).
    net_kwh : numpy.ndarray
        Forecast load minus PV per hour, shape (H,) [kWh].
    price : numpy.ndarray
        Energy price per hour, shape (H,) [KRW/kWh].

    Returns
    -------
    battery_kwh : numpy.ndarray
        Planned grid energy of the battery per hour, (H,) [kWh, + = charge].
    objective : float
        Cost of the plan [KRW].
    """
    from bitgaram.site.physics import battery_params

    params = battery_params(battery, step_hours=1.0)
    h = len(net_kwh)
    problem = SiteProblem(params, horizon=h)
    inp = HorizonInput(
        building_net=net_kwh[None, :],
        district_net=net_kwh,
        price=price,
        carbon=np.zeros(h),
        soc_kwh=np.atleast_1d(np.asarray(params.initial_soc_kwh, dtype=float)),
        capacity_kwh=np.atleast_1d(np.asarray(params.capacity_kwh, dtype=float)),
        weights=ObjectiveWeights(price=1.0, carbon=0.0, ramping=0.0, throughput=THROUGHPUT_COST),
        # Energy left at the end is worth what it costs to buy back at the cheapest hour,
        # so the plan neither dumps the battery nor hoards energy it cannot use.
        terminal_value=np.array([float(np.min(price))]),
    )
    plan = problem.solve(inp)
    return np.asarray(plan.battery_kwh[0], dtype=float), float(plan.objective)


def _hourly(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    index = pd.date_range(start, end, freq="h", inclusive="left")
    if frame.empty:
        return pd.DataFrame(index=index)
    wide = frame.pivot_table(index="ts", columns="meter_id", values="value", aggfunc="sum")
    wide.columns = [str(c) for c in wide.columns]
    return wide.reindex(index)


def forecast_job(job: TenantJob) -> TaskResult:
    """Read the chunk's history, forecast each tenant, write the forecasts back."""
    issued = pd.Timestamp(job.issued_at)
    start = issued - pd.Timedelta(days=job.history_days)
    with open_store(job.store_url, Settings(), migrate=False) as store:
        site = store.load_site(job.site_id)
        meters = [m.id for t in job.tenant_ids for m in site.meters_of(t)]
        raw = store.read_readings(meters, start, issued, resolution="1h")
        history = _hourly(raw, start, issued)
        frames, failures = [], []
        for tid in job.tenant_ids:
            try:
                frames.append(forecast_tenant(site, tid, history, job.horizon, job.model))
            except BitgaramError as exc:
                failures.append((tid, str(exc)))
        frames = [f for f in frames if not f.empty]
        rows = store.write_forecasts(pd.concat(frames, ignore_index=True)) if frames else 0
    return TaskResult(len(job.tenant_ids), rows, tuple(failures))


def _point_forecasts(
    frame: pd.DataFrame, meters: list[str], index: pd.DatetimeIndex
) -> pd.DataFrame:
    """Hourly point forecasts per meter (latest issue; ties by model name), NaN where absent."""
    point = frame[(frame["quantile"] == 0.5) & frame["meter_id"].isin(meters)]
    point = point.sort_values(
        ["meter_id", "ts", "issued_at", "model"], ascending=[True, True, False, True]
    )
    point = point.drop_duplicates(["meter_id", "ts"])
    wide = point.pivot(index="ts", columns="meter_id", values="value")
    return wide.reindex(index=index, columns=meters)


def schedule_job(job: TenantJob) -> TaskResult:
    """Plan each battery tenant of the chunk for the day ahead from the stored forecasts."""
    issued = pd.Timestamp(job.issued_at)
    index = pd.date_range(issued, periods=job.horizon, freq="h")
    with open_store(job.store_url, Settings(), migrate=False) as store:
        site = store.load_site(job.site_id)
        if site.site.tariff is None:
            raise ConfigError(f"site {site.site.id!r} has no tariff: cannot price a schedule")
        tariff = load_tariff(site.site.tariff.name, site.site.tariff.option)
        price = np.asarray(tariff.energy_rate(index), dtype=float)
        batteries = {
            a.tenant: a
            for a in site.assets
            if isinstance(a, BatteryAsset) and a.tenant in job.tenant_ids and a.meter
        }
        meters = [
            m.id
            for t in batteries
            for m in site.meters_of(t)
            if m.kind in (MeterKind.LOAD, MeterKind.PV)
        ]
        # Only what was known when the plan is made: forecasts issued at or before it.
        stored = store.read_forecasts(
            meters,
            issued,
            index[-1] + pd.Timedelta("1h"),
            issued_before=issued + pd.Timedelta("1us"),
        )
        point = _point_forecasts(stored, meters, index)
        frames, failures = [], []
        for tid, battery in batteries.items():
            load = [m.id for m in site.meters_of(tid) if m.kind == MeterKind.LOAD]
            pv = [m.id for m in site.meters_of(tid) if m.kind == MeterKind.PV]
            loads = point[load].to_numpy()
            if loads.size == 0 or np.isnan(loads).any():
                failures.append((tid, f"no load forecast issued by {issued} for every hour"))
                continue
            net = loads.sum(axis=1) - np.nan_to_num(point[pv].to_numpy()).sum(axis=1)
            try:
                plan, _ = schedule_tenant(battery, net, price)
            except BitgaramError as exc:
                failures.append((tid, str(exc)))
                continue
            frames.append(_long([str(battery.meter)], plan[None, :], issued, 0.5, SCHEDULE_MODEL))
        rows = store.write_forecasts(pd.concat(frames, ignore_index=True)) if frames else 0
    return TaskResult(len(job.tenant_ids), rows, tuple(failures))
