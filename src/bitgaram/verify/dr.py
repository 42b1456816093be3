"""Demand-response event performance from the store: the CBL report of stored readings.

The one place where a DR event's customer baseline load (:mod:`bitgaram.verify.cbl`) is
computed from a store: ``bitgaram devices cbl`` and the API's ``dr`` routes both call
:func:`event_report` and only format its rows.

- Members: each tenant's ``load`` meters summed (kWh per hour); the park is the site's
  ``grid_import`` meters when it has any (shared assets such as the ESS sit behind the park
  meter), else the tenants' sum.
- Holidays: the public holidays of the site tariff's country (none without a tariff).
- A method that cannot be formed (too few usable days before the event) is reported as
  unavailable with the reason; the other methods still come out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date

import holidays as holidays_lib
import pandas as pd

from bitgaram.errors import ConfigError, DataError
from bitgaram.site import Site
from bitgaram.store.base import DrEventRecord, Store
from bitgaram.tariff import load_tariff
from bitgaram.verify.cbl import MAX_4_5, MID_6_10, CblMethod, cbl_rows, high_x_of_y

#: Methods used when none is asked for: the two KPX methods.
DEFAULT_METHODS = ("mid", "max")

#: Resolution of the energy series the CBL is built from: hourly, as the KPX settles.
CBL_RESOLUTION = "1h"

#: Columns of :attr:`EventReport.rows`.
REPORT_COLUMNS = (
    "member",
    "method",
    "days",
    "baseline_kwh",
    "metered_kwh",
    "reduction_kwh",
    "baseline_kw",
    "metered_kw",
    "reduction_kw",
)


def parse_method(text: str) -> CblMethod:
    """A CBL method from its short name: ``mid``, ``max`` or ``high:X/Y``.

    Raises
    ------
    ConfigError
        Naming the text when it is none of these.

    Examples
    --------
    >>> parse_method("high:5/10").name
    'High(5/10)'
    """
    if text == "mid":
        return MID_6_10
    if text == "max":
        return MAX_4_5
    if text.startswith("high:"):
        try:
            x, y = (int(v) for v in text[5:].split("/"))
            return high_x_of_y(x, y)
        except (ValueError, DataError) as exc:
            raise ConfigError(
                f"method {text!r}: use high:X/Y with 0 < X <= Y, e.g. high:5/10"
            ) from exc
    raise ConfigError(f"method {text!r}: use mid, max or high:X/Y")


def site_holidays(site: Site, years: range) -> set[date]:
    """Public holidays of the site tariff's country in ``years`` (empty without one)."""
    if site.site.tariff is None:
        return set()
    tariff = load_tariff(site.site.tariff.name, option=site.site.tariff.option)
    if not tariff.holiday_country:
        return set()
    return set(holidays_lib.country_holidays(tariff.holiday_country, years=years))


@dataclass(frozen=True)
class EventReport:
    """The CBL performance of one event.

    Attributes
    ----------
    start, end : pandas.Timestamp
        The event ``[start, end)`` (tz-aware).
    rows : pandas.DataFrame
        One row per member and method (:data:`REPORT_COLUMNS`): energy [kWh] and mean power
        over the event [kW]; a positive reduction is load shed below the baseline.
    unavailable : dict
        Method name -> why it could not be formed.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    rows: pd.DataFrame
    unavailable: dict[str, str] = field(default_factory=dict)


def find_event(store: Store, site_id: str, event_id: str) -> DrEventRecord | None:
    """The stored DR event ``event_id`` of a site, or None."""
    for e in store.read_dr_events(site_id):
        if e.event_id == event_id:
            return e
    return None


def event_report(
    store: Store,
    site: Site,
    start: pd.Timestamp,
    end: pd.Timestamp,
    methods: Sequence[CblMethod],
    excluded: Collection[date] = (),
    tenant_ids: Collection[str] | None = None,
) -> EventReport:
    """CBL, metered energy and reduction of an event per member and method, from the store.

    Parameters
    ----------
    store : Store
        Holds the site's readings.
    site : Site
        Whose event.
    start, end : pandas.Timestamp
        The event (tz-aware, within one local day).
    methods : sequence of CblMethod
        E.g. ``[MID_6_10, MAX_4_5]``.
    excluded : collection of datetime.date
        Days to leave out of the baselines (earlier events, outages).
    tenant_ids : collection of str, optional
        Only these tenants and no park row (a tenant's own view); None: every tenant and
        the park.

    Returns
    -------
    EventReport

    Raises
    ------
    DataError
        When the times are naive or out of order, or no load reading precedes the event.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise DataError("event start and end need a UTC offset (e.g. 2026-06-10T14:00+09:00)")
    if end <= start:
        raise DataError(f"event end {end} is not after its start {start}")
    if not methods:
        raise DataError("no CBL method asked for")
    look = pd.Timedelta(days=2 * 2 * max(m.days for m in methods) + 7)
    sid = site.site.id
    tenants = store.tenant_totals(
        "load",
        start - look,
        end,
        resolution=CBL_RESOLUTION,
        tenant_ids=None if tenant_ids is None else sorted(tenant_ids),
        site_id=sid,
    )
    energy = tenants.pivot(index="ts", columns="tenant_id", values="value")
    if energy.empty:
        raise DataError(f"site {sid!r}: no load readings in the store before {start}")
    park_series = None
    if tenant_ids is None:
        park = store.park_totals("grid_import", start - look, end, CBL_RESOLUTION, site_id=sid)
        park_series = park.set_index("ts")["value"] if not park.empty else None
    holidays = site_holidays(site, range(start.year - 1, start.year + 1))
    rows, unavailable = cbl_rows(
        energy,
        start,
        end,
        methods,
        site.site.timezone,
        holidays,
        excluded,
        park="park" if tenant_ids is None else None,
        park_energy=park_series,
    )
    return EventReport(start, end, rows.reindex(columns=list(REPORT_COLUMNS)), unavailable)
