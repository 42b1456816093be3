"""Energy accounts: the one place where a tenant's or the park's figures are computed.

For a site, a tenant (or the whole park) and a period ``[start, end)``, an
:class:`EnergyAccount` gives consumption by meter kind, on-site generation and
its self-consumed and exported parts, grid import and export, demand, the bill,
Scope 2 emissions, RE share, hourly CFE and self-sufficiency. The CLI, every API
route and the reports call :func:`energy_accounts` (or :func:`energy_account`)
and only format what it returns. Definitions, with formulas and units, are in
``docs/accounts.md``.

Per interval of the account step (kWh per interval; the step is the coarsest
native interval of the meters involved, at least 15 minutes, at most 1 hour)::

    consumption  = sum of load-like meters (load, data_centre, ev_charger)
                   or, without any, import - export + generation - battery
    generation   = sum of pv and wind meters (>= 0)
    battery      = sum of battery energy meters (+ charging)
    import       = measured (grid_import, or max(grid_net, 0)) if the owner has grid meters,
                   else max(consumption + battery - generation, 0)
    export       = measured (grid_export, or max(-grid_net, 0)), else
                   max(generation - consumption - battery, 0)
    self_consumed = min(max(generation - export, 0), generation)

The park is one grid connection: its consumption is the tenants' consumption
plus site-level consumption meters, its generation every generation meter
(site-level PV included), and its import is measured by site-level grid meters
or derived from the park's own balance, so one tenant's surplus PV serves
another tenant's load in the same interval.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bitgaram.account.factors import GridFactor, grid_factor_for_year, load_grid_factors
from bitgaram.account.instruments import Instrument
from bitgaram.account.ledger import hourly_balance, summarise
from bitgaram.errors import ConfigError, DataError
from bitgaram.site.model import Meter, MeterKind, Site, TariffRef, Unit
from bitgaram.store.base import Store
from bitgaram.tariff import BillingTariff, MonthlyBill, PriceSeriesTariff, compute_bills
from bitgaram.tariff.load import load_tariff

#: Meter kinds whose energy is consumption (every load-like kind). EV chargers are signed:
#: V2G discharge counts as negative consumption.
CONSUMPTION_KINDS: tuple[MeterKind, ...] = (
    MeterKind.LOAD,
    MeterKind.DATA_CENTRE,
    MeterKind.EV_CHARGER,
)
#: Meter kinds whose energy is on-site renewable generation.
GENERATION_KINDS: tuple[MeterKind, ...] = (MeterKind.PV, MeterKind.WIND)
#: Grid meter kinds.
GRID_KINDS: tuple[MeterKind, ...] = (
    MeterKind.GRID_IMPORT,
    MeterKind.GRID_EXPORT,
    MeterKind.GRID_NET,
)
_FLOW_KINDS = (*CONSUMPTION_KINDS, *GENERATION_KINDS, MeterKind.BATTERY, *GRID_KINDS)

#: Finest account step: tariffs read demand over 15 minutes.
FINEST_STEP = pd.Timedelta("15min")
#: Coarsest account step: CFE is matched hour by hour.
COARSEST_STEP = pd.Timedelta("1h")

#: Columns of :attr:`Flows.frame` besides ``consumption_<kind>_kwh`` [kWh per interval].
FLOW_COLUMNS = (
    "consumption_kwh",
    "generation_kwh",
    "battery_kwh",
    "import_kwh",
    "export_kwh",
    "self_consumed_kwh",
)


def is_flow_meter(meter: Meter) -> bool:
    """Whether a meter carries an energy flow the accounts add up (kWh or kW of a flow kind).

    Meters in other units (a battery's state of charge in %) are context, not energy.
    """
    return meter.kind in _FLOW_KINDS and meter.unit in (Unit.KWH, Unit.KW)


def account_step(meters: Sequence[Meter]) -> str:
    """The interval an account is computed at: the coarsest native interval, 15 min to 1 h.

    Parameters
    ----------
    meters : sequence of Meter
        The flow meters involved.

    Returns
    -------
    str
        ``"15min"``, ``"30min"``, ``"1h"`` ... (a pandas duration dividing an hour).

    Raises
    ------
    DataError
        If a meter reports less often than hourly (hourly CFE and time-of-use
        prices cannot be computed from it).

    Examples
    --------
    >>> from bitgaram.site.model import Meter
    >>> account_step([Meter(id="a", kind="load", unit="kWh", resolution="5min")])
    '15min'
    >>> account_step([Meter(id="a", kind="load", unit="kWh", resolution="1h")])
    '1h'
    """
    step = FINEST_STEP
    for m in meters:
        native = pd.Timedelta(m.resolution)
        if native > COARSEST_STEP or COARSEST_STEP % native != pd.Timedelta(0):
            raise DataError(
                f"meter {m.id!r} reports every {m.resolution}; energy accounts need meters "
                "of one hour or finer whose interval divides an hour"
            )
        step = max(step, native)
    minutes = int(step.total_seconds() // 60)
    return "1h" if minutes == 60 else f"{minutes}min"


def local_bound(value: str | pd.Timestamp, timezone: str) -> pd.Timestamp:
    """A period bound as UTC: naive values are local time of ``timezone`` (DST-safe).

    A naive time in the spring-forward gap moves forward to the first valid
    time; an ambiguous fall-back time is read as the first (daylight) one.

    Examples
    --------
    >>> local_bound("2023-03-12", "America/Los_Angeles")
    Timestamp('2023-03-12 08:00:00+0000', tz='UTC')
    >>> local_bound("2023-07-01T00:00+09:00", "America/Los_Angeles")
    Timestamp('2023-06-30 15:00:00+0000', tz='UTC')
    """
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{value!r} is not a date or time (e.g. 2023-01-01)") from exc
    if ts is pd.NaT or not isinstance(ts, pd.Timestamp):
        raise DataError(f"{value!r} is not a date or time (e.g. 2023-01-01)")
    if not 1900 <= ts.year <= 2200:
        raise DataError(f"{value!r} is out of range (years 1900 to 2200)")
    if ts.tzinfo is None:
        ts = ts.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return ts.tz_convert("UTC")


def month_bounds(month: str, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` in UTC of a local calendar month ``YYYY-MM``.

    Examples
    --------
    >>> month_bounds("2023-03", "America/Los_Angeles")[1] - month_bounds("2023-03",
    ...     "America/Los_Angeles")[0]
    Timedelta('30 days 23:00:00')
    """
    try:
        period = pd.Period(month, "M")
    except ValueError as exc:
        raise DataError(f"{month!r} is not a month (YYYY-MM)") from exc
    start = local_bound(period.start_time, timezone)
    end = local_bound((period + 1).start_time, timezone)
    return start, end


# -- flows ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Flows:
    """Energy flows of one tenant or of the park, per interval.

    Attributes
    ----------
    tenant_id : str or None
        The tenant; None for the park.
    step : str
        Interval length (pandas duration).
    frame : pandas.DataFrame
        UTC interval starts; columns ``consumption_<kind>_kwh`` per consumption
        kind present, then :data:`FLOW_COLUMNS` [kWh per interval] and
        ``has_data`` (any of the owner's flow meters reported in the interval).
    kinds : tuple of str
        Consumption kinds present (``"load"``, ``"data_centre"`` ...).
    """

    tenant_id: str | None
    step: str
    frame: pd.DataFrame = field(repr=False)
    kinds: tuple[str, ...]

    @property
    def step_hours(self) -> float:
        """Interval length [h]."""
        return pd.Timedelta(self.step).total_seconds() / 3600.0

    def power_kw(self, column: str) -> np.ndarray:
        """Average power over each interval [kW] of an energy column; NaN where no data."""
        values = self.frame[column].to_numpy(dtype=float) / self.step_hours
        return np.where(self.frame["has_data"].to_numpy(dtype=bool), values, np.nan)


def _wide(
    store: Store, meters: Sequence[Meter], axis: pd.DatetimeIndex, step: str
) -> dict[str, np.ndarray]:
    """Energy per interval [kWh] of each meter on ``axis`` (NaN without a reading)."""
    n = len(axis)
    out = {m.id: np.full(n, np.nan) for m in meters}
    if not meters or n == 0:
        return out
    end = axis[-1] + pd.Timedelta(step)
    long = store.read_readings([m.id for m in meters], axis[0], end, resolution=step)
    if long.empty:
        return out
    step_ns = pd.Timedelta(step).value
    ts = pd.to_datetime(long["ts"], utc=True)
    delta = (ts - axis[0]).to_numpy(dtype="timedelta64[ns]").astype(np.int64)
    pos = delta // step_ns
    ok = (delta >= 0) & (delta % step_ns == 0) & (pos < n)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    codes, names = pd.factorize(long["meter_id"])
    values = long["value"].to_numpy(dtype=float)
    unit = {m.id: m.unit for m in meters}
    for code, meter_id in enumerate(names):
        sel = ok & (codes == code)
        scale = hours if unit[str(meter_id)] is Unit.KW else 1.0  # mean kW over the interval
        out[str(meter_id)][pos[sel]] = values[sel] * scale
    return out


def _sum(columns: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum (missing as 0) and whether any column had a value, per interval."""
    if not columns:
        return np.zeros(n), np.zeros(n, dtype=bool)
    stack = np.vstack(columns)
    return np.nansum(stack, axis=0), np.isfinite(stack).any(axis=0)


def _balance(
    consumption: dict[str, np.ndarray] | None,
    generation: np.ndarray,
    battery: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray] | None,
    has_data: np.ndarray,
) -> dict[str, np.ndarray]:
    """The interval balance (see the module docstring) as named arrays [kWh]."""
    n = len(generation)
    if consumption is None:
        if grid is None:
            consumption = {}  # generation only: all of it is exported
        else:
            imp, exp = grid
            consumption = {"load": np.clip(imp - exp + generation - battery, 0.0, None)}
    parts = list(consumption.values())
    total = np.clip(np.sum(parts, axis=0), 0.0, None) if parts else np.zeros(n)
    if grid is None:
        net = total + battery - generation
        imp, exp = np.clip(net, 0.0, None), np.clip(-net, 0.0, None)
    else:
        imp, exp = grid
    used = np.clip(np.minimum(generation - exp, generation), 0.0, None)
    cols = {f"consumption_{k}_kwh": v for k, v in consumption.items()}
    cols |= {
        "consumption_kwh": total,
        "generation_kwh": generation,
        "battery_kwh": battery,
        "import_kwh": imp,
        "export_kwh": exp,
        "self_consumed_kwh": used,
    }
    cols = {k: np.where(has_data, v, 0.0) if v.shape == (n,) else v for k, v in cols.items()}
    return cols


def _grid(
    values: dict[str, np.ndarray], meters: Sequence[Meter], n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    net_m = [values[m.id] for m in meters if m.kind is MeterKind.GRID_NET]
    imp_m = [values[m.id] for m in meters if m.kind is MeterKind.GRID_IMPORT]
    exp_m = [values[m.id] for m in meters if m.kind is MeterKind.GRID_EXPORT]
    if net_m:
        net = _sum(net_m, n)[0]
        return np.clip(net, 0.0, None), np.clip(-net, 0.0, None)
    if imp_m:
        return np.clip(_sum(imp_m, n)[0], 0.0, None), np.clip(_sum(exp_m, n)[0], 0.0, None)
    return None


def _owner_flows(
    values: dict[str, np.ndarray],
    meters: Sequence[Meter],
    n: int,
    extra_consumption: Mapping[str, np.ndarray] | None = None,
    extra_has_data: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    flow = [m for m in meters if is_flow_meter(m)]
    has_data = _sum([values[m.id] for m in flow], n)[1]
    if extra_has_data is not None:
        has_data = has_data | extra_has_data
    consumption: dict[str, np.ndarray] = {}
    for kind in CONSUMPTION_KINDS:
        own = [values[m.id] for m in flow if m.kind is kind]
        if own:
            consumption[kind.value] = _sum(own, n)[0]
    for name, more in (extra_consumption or {}).items():
        consumption[name] = consumption.get(name, np.zeros(n)) + more
    generation = np.clip(
        _sum([values[m.id] for m in flow if m.kind in GENERATION_KINDS], n)[0], 0.0, None
    )
    battery = _sum([values[m.id] for m in flow if m.kind is MeterKind.BATTERY], n)[0]
    grid = _grid(values, flow, n)
    cols = _balance(consumption or None, generation, battery, grid, has_data)
    return cols, has_data


def _frame(cols: dict[str, np.ndarray], has_data: np.ndarray, axis: pd.DatetimeIndex) -> Flows:
    frame = pd.DataFrame(cols, index=axis)
    frame["has_data"] = has_data
    frame.index.name = "ts"
    kinds = tuple(
        c.removeprefix("consumption_").removesuffix("_kwh")
        for c in cols
        if c.startswith("consumption_") and c != "consumption_kwh"
    )
    return Flows(None, "", frame, kinds)


def read_flows(
    store: Store,
    site: Site,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tenant_ids: Sequence[str] | None = None,
    park: bool = True,
) -> dict[str | None, Flows]:
    """Interval flows of tenants and of the park, from one store read.

    Parameters
    ----------
    store : Store
        Holds the site's readings.
    site : Site
        The site (tenants, meters).
    start, end : pandas.Timestamp
        Period ``[start, end)``, tz-aware (see :func:`local_bound`).
    tenant_ids : sequence of str, optional
        Tenants to account (default: every tenant of the site).
    park : bool
        Also account the park (key ``None``); it reads every meter of the site.

    Returns
    -------
    dict
        :class:`Flows` per tenant id, and the park's under ``None``.

    Raises
    ------
    ConfigError
        If a tenant id is unknown.
    DataError
        If the period is empty or a meter reports less often than hourly.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise DataError("account periods need timezone-aware bounds (see local_bound)")
    if start >= end:
        raise DataError(f"start {start.isoformat()} must be before end {end.isoformat()}")
    tenants = [t.id for t in site.tenants] if tenant_ids is None else list(tenant_ids)
    for t in tenants:
        site.tenant(t)  # ConfigError naming the unknown tenant
    if park:
        meters = [m for m in site.meters if is_flow_meter(m)]
    else:
        meters = [m for m in site.meters if is_flow_meter(m) and m.tenant in tenants]
    step = account_step(meters)
    axis = pd.date_range(
        pd.Timestamp(start).tz_convert("UTC").floor(step),
        pd.Timestamp(end).tz_convert("UTC"),
        freq=step,
        inclusive="left",
    )
    values = _wide(store, meters, axis, step)
    n = len(axis)
    out: dict[str | None, Flows] = {}
    every = [t.id for t in site.tenants] if park else tenants
    per_tenant: dict[str, tuple[dict[str, np.ndarray], np.ndarray]] = {}
    for t in every:
        own = [m for m in meters if m.tenant == t]
        if not own:
            continue
        per_tenant[t] = _owner_flows(values, own, n)
    for t in tenants:
        cols, has = per_tenant.get(t, ({}, np.zeros(n, dtype=bool)))
        if not cols:
            cols = _balance({}, np.zeros(n), np.zeros(n), None, has)
        flows = _frame(cols, has, axis)
        out[t] = Flows(t, step, flows.frame, flows.kinds)
    if park:
        extra: dict[str, np.ndarray] = {}
        any_data = np.zeros(n, dtype=bool)
        for cols, has in per_tenant.values():
            any_data |= has
            for c, v in cols.items():
                if c.startswith("consumption_") and c != "consumption_kwh":
                    kind = c.removeprefix("consumption_").removesuffix("_kwh")
                    extra[kind] = extra.get(kind, np.zeros(n)) + v
        site_meters = [m for m in meters if m.tenant is None]
        # Tenants' own generation and batteries count at the park's connection too.
        shared = [m for m in meters if m.tenant is not None and m.kind not in (*CONSUMPTION_KINDS,)]
        gen_batt = [m for m in shared if m.kind in (*GENERATION_KINDS, MeterKind.BATTERY)]
        cols, has = _owner_flows(
            values, [*site_meters, *gen_batt], n, extra_consumption=extra, extra_has_data=any_data
        )
        flows = _frame(cols, has, axis)
        out[None] = Flows(None, step, flows.frame, flows.kinds)
    return out


# -- the account ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EnergyAccount:
    """The energy, money and carbon figures of one tenant (or the park) over a period.

    Attributes
    ----------
    site_id : str
    tenant_id : str or None
        None for the park.
    start, end : pandas.Timestamp
        Period ``[start, end)`` (UTC).
    timezone : str
        The site's timezone (months, years and bills follow its wall clock).
    step : str
        Interval the balance is computed at (see :func:`account_step`).
    intervals, intervals_with_data : int
        Intervals in the period, and those with at least one reading.
    consumption_kwh : dict of str to float
        Consumption per meter kind [kWh].
    consumption_total_kwh : float
        All consumption [kWh].
    generation_kwh, self_consumed_kwh, exported_kwh : float
        On-site renewable generation, its part used on site and its part exported [kWh].
    import_kwh, export_kwh : float
        Energy bought from and sold to the grid [kWh].
    battery_net_kwh : float
        Energy into batteries minus energy out [kWh].
    peak_demand_kw : float or None
        Largest average grid import over one interval of ``step`` [kW].
    peak_demand_at : pandas.Timestamp or None
        Start of that interval (UTC).
    billing_demand_kw : float or None
        Largest monthly billing demand of the bills (ratchet and contract floor) [kW].
    bill_energy, bill_demand, bill_total : float or None
        Energy-related lines (energy, discounts, adders), demand lines, and the
        total with fund and VAT [currency]; None without a tariff.
    currency, tariff : str or None
        Of the bills.
    bills : tuple of MonthlyBill
        The monthly bills behind the bill figures.
    renewable_kwh, instruments_applied_kwh : float
        Renewable electricity claimed (self-consumed + instruments) and the
        instruments' part [kWh].
    scope2_location_kgco2, scope2_market_kgco2 : float
        Scope 2 emissions [kgCO2].
    scope2_location_basis : str
        ``"hourly intensity <meter>"`` or the grid factor ids used.
    re_share, cfe_share, self_sufficiency : float or None
        Renewable share, hourly carbon-free energy share, self-consumed share
        of consumption [-]; None without consumption.
    hourly : pandas.DataFrame
        The hourly ledger balance (local time) the carbon and RE figures come from.
    """

    site_id: str
    tenant_id: str | None
    start: pd.Timestamp
    end: pd.Timestamp
    timezone: str
    step: str
    intervals: int
    intervals_with_data: int
    consumption_kwh: dict[str, float]
    consumption_total_kwh: float
    generation_kwh: float
    self_consumed_kwh: float
    exported_kwh: float
    import_kwh: float
    export_kwh: float
    battery_net_kwh: float
    peak_demand_kw: float | None
    peak_demand_at: pd.Timestamp | None
    billing_demand_kw: float | None
    bill_energy: float | None
    bill_demand: float | None
    bill_total: float | None
    currency: str | None
    tariff: str | None
    bills: tuple[MonthlyBill, ...]
    renewable_kwh: float
    instruments_applied_kwh: float
    scope2_location_kgco2: float
    scope2_market_kgco2: float
    scope2_location_basis: str
    re_share: float | None
    cfe_share: float | None
    self_sufficiency: float | None
    hourly: pd.DataFrame = field(repr=False)
    grid_factors: dict[int, GridFactor] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The tenant id, or ``"park"``."""
        return self.tenant_id or "park"


@dataclass(frozen=True)
class TariffChoice:
    """The tariff a tenant or the park is billed on, and its contract power [kW]."""

    tariff: BillingTariff
    contract_kw: float | None


def price_meter_tariff(store: Store, site: Site, meter_id: str) -> PriceSeriesTariff:
    """The series of a stored ``price`` meter as a tariff (months of the UTC clock).

    Raises
    ------
    ConfigError
        If the meter is unknown or not a price in ``<currency>/kWh``.
    DataError
        If it has no readings.
    """
    known = [m.id for m in site.meters if m.kind is MeterKind.PRICE]
    if meter_id not in {m.id for m in site.meters}:
        raise ConfigError(
            f"site {site.site.id!r} has no meter {meter_id!r}; price meters: "
            + (", ".join(known) or "none")
        )
    meter = site.meter(meter_id)
    unit = str(meter.unit)
    if meter.kind is not MeterKind.PRICE or not unit.endswith("/kWh"):
        raise ConfigError(f"meter {meter_id!r} is a {meter.kind} meter in {unit}, not a price")
    frame = store.read_readings([meter_id])
    if frame.empty:
        raise DataError(f"price meter {meter_id!r} has no readings")
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True)).tz_localize(None)
    series = pd.Series(frame["value"].to_numpy(dtype=float), index=index).sort_index()
    return PriceSeriesTariff(
        name=meter_id, currency=unit.removesuffix("/kWh"), prices=series, timezone="UTC"
    )


def resolve_tariff(
    store: Store,
    site: Site,
    tenant_id: str | None,
    memo: dict[str, PriceSeriesTariff] | None = None,
) -> TariffChoice | None:
    """The tariff of a tenant or the park, as the site file says.

    A tenant pays its own tariff (with its own contract power), else the
    site's (without the site's contract power, which is the park's); the park
    pays the site's tariff on the site's contract power. Without any tariff,
    the site's first ``price`` meter is the tariff (e.g. CityLearn prices);
    without that, None (no bill). ``memo`` keeps price series read once for
    several calls.
    """
    ref: TariffRef | None
    if tenant_id is not None:
        tenant = site.tenant(tenant_id)
        if tenant.tariff is not None:
            ref, contract = tenant.tariff, tenant.tariff.contract_kw
        else:
            ref, contract = site.site.tariff, None
    else:
        ref = site.site.tariff
        contract = ref.contract_kw if ref is not None else None
    if ref is not None:
        return TariffChoice(load_tariff(ref.name, ref.option), contract)
    prices = [m for m in site.meters if m.kind is MeterKind.PRICE and str(m.unit).endswith("/kWh")]
    if prices:
        memo = {} if memo is None else memo
        if prices[0].id not in memo:
            memo[prices[0].id] = price_meter_tariff(store, site, prices[0].id)
        return TariffChoice(memo[prices[0].id], None)
    return None


@functools.cache
def _packaged_factors() -> tuple[GridFactor, ...]:
    return load_grid_factors()


def _grid_factors(site: Site, years: Sequence[int]) -> dict[int, GridFactor]:
    pool = _packaged_factors()
    wanted = site.site.carbon.factor
    factor_id = wanted if wanted in {f.id for f in pool} else None
    return {int(y): grid_factor_for_year(int(y), pool, factor_id) for y in years}


def _intensity(store: Store, site: Site, hours: pd.DatetimeIndex) -> tuple[pd.Series | None, str]:
    meter_id = site.site.carbon.series_meter
    if meter_id is None or len(hours) == 0:
        return None, ""
    frame = store.read_readings(
        [meter_id], hours[0], hours[-1] + pd.Timedelta(hours=1), resolution="1h"
    )
    series = pd.Series(
        frame["value"].to_numpy(dtype=float),
        index=pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True)),
    )
    values = series.reindex(hours.tz_convert("UTC"))
    if values.isna().any():
        missing = hours[values.isna().to_numpy()][0]
        raise DataError(f"carbon intensity meter {meter_id!r} has no value for {missing}")
    return pd.Series(values.to_numpy(), index=hours), f"hourly intensity {meter_id}"


def _hourly(flows: Flows, timezone: str) -> pd.DataFrame:
    """Flows summed into UTC hours, indexed by the hour's local start (tz-aware)."""
    frame = flows.frame
    cols = ["consumption_kwh", "generation_kwh", "self_consumed_kwh", "import_kwh"]
    idx = pd.DatetimeIndex(frame.index)
    per_hour = int(pd.Timedelta("1h") // pd.Timedelta(flows.step))
    if len(idx) and idx[0] == idx[0].floor("h") and len(idx) % per_hour == 0:
        # whole hours: a reshape instead of a group-by (the usual case)
        data = {c: frame[c].to_numpy(dtype=float).reshape(-1, per_hour).sum(axis=1) for c in cols}
        hours = idx[::per_hour]
        hourly = pd.DataFrame(data, index=hours)
    else:
        hourly = frame[cols].groupby(idx.floor("h")).sum()
    hourly.index = pd.DatetimeIndex(hourly.index).tz_convert(timezone)
    return hourly


def _bills(
    flows: Flows, choice: TariffChoice | None, name: str, history: Flows | None = None
) -> tuple[MonthlyBill, ...]:
    if choice is None:
        return ()
    frame = flows.frame[flows.frame["has_data"]]
    if frame.empty:
        return ()
    # hourly meters: demand is the hourly average (the tariffs read 15 minutes)
    hourly = pd.Timedelta(flows.step) > FINEST_STEP
    prior: dict[pd.Period, float] = {}
    if history is not None and choice.tariff.demand_rules.ratchet_months:
        before = history.frame[history.frame["has_data"]]
        if not before.empty:
            earlier = compute_bills(
                choice.tariff,
                before["import_kwh"],
                contract_kw=choice.contract_kw,
                meter=name,
                allow_hourly_demand=pd.Timedelta(history.step) > FINEST_STEP,
            )
            prior = {b.month: b.max_demand_kw for b in earlier}
    return compute_bills(
        choice.tariff,
        frame["import_kwh"],
        contract_kw=choice.contract_kw,
        demand_history=prior,
        meter=name,
        allow_hourly_demand=hourly,
    )


def _ratio(num: float, den: float) -> float | None:
    return min(max(num / den, 0.0), 1.0) if den > 0 else None


def account_of(
    flows: Flows,
    site: Site,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tariff: TariffChoice | None,
    intensity: tuple[pd.Series | None, str] = (None, ""),
    instruments: Sequence[Instrument] = (),
    residual_factor_kg_per_kwh: float | None = None,
    history: Flows | None = None,
) -> EnergyAccount:
    """The :class:`EnergyAccount` of computed flows (pure; see :func:`energy_accounts`).

    ``history`` holds the flows of the months before the period, whose maximum
    demands the tariff's ratchet looks back on.
    """
    tz = site.site.timezone
    frame = flows.frame
    hourly_flows = _hourly(flows, tz)
    series, basis = intensity
    if series is not None:
        series = series.reindex(hourly_flows.index)
    balance = hourly_balance(
        hourly_flows["consumption_kwh"],
        hourly_flows["generation_kwh"],
        instruments,
        series,
        onsite_used_kwh=hourly_flows["self_consumed_kwh"],
        grid_import_kwh=hourly_flows["import_kwh"],
    )
    years = [int(y) for y in np.unique(pd.DatetimeIndex(balance.index).year.to_numpy())]
    factors = _grid_factors(site, years) if years else {}
    ledger = (
        summarise(balance, "YS", factors, residual_factor_kg_per_kwh)
        if len(balance)
        else pd.DataFrame()
    )

    def total(col: str) -> float:
        return float(ledger[col].sum()) if col in ledger else 0.0

    if series is not None:
        location = total("location_hourly_kgco2")
    else:
        location = total("location_kgco2")
        basis = ", ".join(f.id for _, f in sorted(factors.items()))
    consumption = float(frame["consumption_kwh"].sum())
    generation = float(frame["generation_kwh"].sum())
    used = float(frame["self_consumed_kwh"].sum())
    demand = flows.power_kw("import_kwh")
    peak_at = None
    peak = None
    if np.isfinite(demand).any():
        pos = int(np.nanargmax(demand))
        peak, peak_at = float(demand[pos]), pd.Timestamp(frame.index[pos])
    name = flows.tenant_id or site.site.id
    bills = _bills(flows, tariff, name, history)
    bill_demand = sum(ln.amount for b in bills for ln in b.lines if ln.code.startswith("demand"))
    bill_lines = sum(ln.amount for b in bills for ln in b.lines)
    return EnergyAccount(
        site_id=site.site.id,
        tenant_id=flows.tenant_id,
        start=pd.Timestamp(start).tz_convert("UTC"),
        end=pd.Timestamp(end).tz_convert("UTC"),
        timezone=tz,
        step=flows.step,
        intervals=len(frame),
        intervals_with_data=int(frame["has_data"].sum()),
        consumption_kwh={k: float(frame[f"consumption_{k}_kwh"].sum()) for k in flows.kinds},
        consumption_total_kwh=consumption,
        generation_kwh=generation,
        self_consumed_kwh=used,
        exported_kwh=generation - used,
        import_kwh=float(frame["import_kwh"].sum()),
        export_kwh=float(frame["export_kwh"].sum()),
        battery_net_kwh=float(frame["battery_kwh"].sum()),
        peak_demand_kw=peak,
        peak_demand_at=peak_at,
        billing_demand_kw=max(b.billing_demand_kw for b in bills) if bills else None,
        bill_energy=float(bill_lines - bill_demand) if bills else None,
        bill_demand=float(bill_demand) if bills else None,
        bill_total=float(sum(b.total for b in bills)) if bills else None,
        currency=bills[0].currency if bills else None,
        tariff=bills[0].tariff if bills else None,
        bills=bills,
        renewable_kwh=total("renewable_kwh"),
        instruments_applied_kwh=total("instruments_applied_kwh"),
        scope2_location_kgco2=location,
        scope2_market_kgco2=total("market_kgco2"),
        scope2_location_basis=basis,
        re_share=_ratio(total("renewable_kwh"), consumption),
        cfe_share=_ratio(total("cfe_matched_kwh"), consumption),
        self_sufficiency=_ratio(used, consumption),
        hourly=balance,
        grid_factors=factors,
    )


def energy_accounts(
    store: Store,
    site: Site,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tenant_ids: Sequence[str] | None = None,
    park: bool = True,
    *,
    tariff: BillingTariff | None = None,
    contract_kw: float | None = None,
    instruments: Sequence[Instrument] = (),
    residual_factor_kg_per_kwh: float | None = None,
    ratchet: bool = True,
    bills: bool = True,
) -> dict[str | None, EnergyAccount]:
    """Energy accounts of tenants and of the park over ``[start, end)``, from one store read.

    Parameters
    ----------
    store : Store
        Holds the readings.
    site : Site
        The site described in the store.
    start, end : pandas.Timestamp
        The period, tz-aware (:func:`local_bound` turns local dates into bounds).
    tenant_ids : sequence of str, optional
        Tenants to account (default: all).
    park : bool
        Also the park's account (key ``None``).
    tariff : BillingTariff, optional
        Bill everyone on this tariff instead of the site file's (:func:`resolve_tariff`).
    contract_kw : float, optional
        The park's contract power [kW] (default: the site tariff's; with
        ``tariff``, none). Tenants keep their own.
    instruments : sequence of Instrument
        RECs, PPAs and green premiums (their ``tenant`` picks the account; the
        park's account gets all of them).
    residual_factor_kg_per_kwh : float, optional
        Market-based residual factor [kgCO2/kWh] (default: the grid factor).
    ratchet : bool
        Read the months before the period that a tariff's demand ratchet looks
        back on (``lookback_months``), so a month's billing demand is the same
        whatever period it is billed in.
    bills : bool
        Bill the accounts (False: ``bill_*`` are None, and nothing more is read).

    Returns
    -------
    dict
        :class:`EnergyAccount` per tenant id, the park's under ``None``.
    """
    flows = read_flows(store, site, start, end, tenant_ids, park)
    hours = (
        pd.DatetimeIndex(next(iter(flows.values())).frame.index).floor("h").unique()
        if flows
        else None
    )
    intensity = (
        _intensity(store, site, pd.DatetimeIndex(hours).tz_convert(site.site.timezone))
        if hours is not None
        else (None, "")
    )
    memo: dict[str, PriceSeriesTariff] = {}
    choices: dict[str | None, TariffChoice | None] = {}
    for owner in flows:
        choice: TariffChoice | None = None
        if bills and tariff is not None:
            choice = TariffChoice(tariff, None)
        elif bills:
            choice = resolve_tariff(store, site, owner, memo)
        if owner is None and choice is not None and contract_kw is not None:
            choice = TariffChoice(choice.tariff, contract_kw)
        choices[owner] = choice
    lookback = max(
        (c.tariff.demand_rules.lookback_months for c in choices.values() if c is not None and
         c.tariff.demand_rules.ratchet_months),
        default=0,
    )  # fmt: skip
    history: dict[str | None, Flows] = {}
    if ratchet and lookback:
        local = pd.Timestamp(start).tz_convert(site.site.timezone).tz_localize(None)
        first = local_bound(local.to_period("M").start_time - pd.DateOffset(months=lookback),
                            site.site.timezone)  # fmt: skip
        history = read_flows(store, site, first, start, tenant_ids, park)
    out: dict[str | None, EnergyAccount] = {}
    for owner, f in flows.items():
        own = [i for i in instruments if owner is None or i.tenant == owner]
        out[owner] = account_of(
            f,
            site,
            start,
            end,
            choices[owner],
            intensity,
            own,
            residual_factor_kg_per_kwh,
            history.get(owner),
        )
    return out


def energy_account(
    store: Store,
    site: Site,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tenant_id: str | None = None,
    **options: object,
) -> EnergyAccount:
    """The :class:`EnergyAccount` of one tenant, or of the park (``tenant_id=None``).

    Same options as :func:`energy_accounts`.
    """
    accounts = energy_accounts(
        store,
        site,
        start,
        end,
        tenant_ids=[tenant_id] if tenant_id is not None else [],
        park=tenant_id is None,
        **options,  # type: ignore[arg-type]
    )
    return accounts[tenant_id]


def data_bounds(store: Store, site: Site) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[first, last)`` of the site's energy readings (the UTC hours holding data).

    Raises
    ------
    DataError
        If no energy meter of the site has a reading.
    """
    ids = [m.id for m in site.meters if is_flow_meter(m)]
    hourly = store.read_readings(ids, resolution="1h") if ids else pd.DataFrame()
    if hourly.empty:
        raise DataError(f"site {site.site.id!r} has no energy readings")
    ts = pd.to_datetime(hourly["ts"], utc=True)
    return pd.Timestamp(ts.min()), pd.Timestamp(ts.max()) + pd.Timedelta(hours=1)


def account_record(acc: EnergyAccount) -> dict[str, object]:
    """The account's figures as a JSON-ready mapping (field names with units, as the API's)."""

    def when(ts: pd.Timestamp | None) -> str | None:
        return ts.isoformat() if ts is not None else None

    return {
        "site_id": acc.site_id,
        "tenant_id": acc.tenant_id,
        "start": when(acc.start),
        "end": when(acc.end),
        "timezone": acc.timezone,
        "step": acc.step,
        "intervals": acc.intervals,
        "intervals_with_data": acc.intervals_with_data,
        "consumption_kwh": dict(acc.consumption_kwh),
        "consumption_total_kwh": acc.consumption_total_kwh,
        "generation_kwh": acc.generation_kwh,
        "self_consumed_kwh": acc.self_consumed_kwh,
        "exported_kwh": acc.exported_kwh,
        "import_kwh": acc.import_kwh,
        "export_kwh": acc.export_kwh,
        "battery_net_kwh": acc.battery_net_kwh,
        "peak_demand_kw": acc.peak_demand_kw,
        "peak_demand_at": when(acc.peak_demand_at),
        "billing_demand_kw": acc.billing_demand_kw,
        "bill_energy": acc.bill_energy,
        "bill_demand": acc.bill_demand,
        "bill_total": acc.bill_total,
        "currency": acc.currency,
        "tariff": acc.tariff,
        "renewable_kwh": acc.renewable_kwh,
        "scope2_location_kgco2": acc.scope2_location_kgco2,
        "scope2_market_kgco2": acc.scope2_market_kgco2,
        "scope2_location_basis": acc.scope2_location_basis,
        "re_share": acc.re_share,
        "cfe_share": acc.cfe_share,
        "self_sufficiency": acc.self_sufficiency,
    }
