"""``/api/v1/meters``: metering points, their readings and forecasts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Response

from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, StoreDep
from bitgaram.api.period import resolve_period
from bitgaram.api.schemas.common import Paged, paged_items, paged_points, paginate
from bitgaram.api.schemas.readings import ForecastPublic, ReadingPublic
from bitgaram.api.schemas.site import MeterPublic
from bitgaram.api.series import cached_json, epoch_us, read_table
from bitgaram.site.model import MeterKind
from bitgaram.store.base import Resolution

router = APIRouter(prefix="/meters", tags=["meters"])

StartQuery = Annotated[
    datetime | None,
    Query(description="Period start (ISO 8601; naive = UTC). Default: last 7 days of data."),
]
EndQuery = Annotated[
    datetime | None, Query(description="Period end, exclusive (ISO 8601; naive = UTC).")
]


@router.get("")
def list_meters(
    scope: ScopeDep,
    page: PageDep,
    tenant: Annotated[str | None, Query(description="Only this tenant's meters.")] = None,
    kind: Annotated[MeterKind | None, Query(description="Only meters of this kind.")] = None,
) -> Paged[MeterPublic]:
    """Meters the caller may see."""
    meters = scope.meters()
    if tenant is not None:
        scope.tenant(tenant)
        meters = tuple(m for m in meters if m.tenant == tenant)
    if kind is not None:
        meters = tuple(m for m in meters if m.kind is kind)
    return paginate([MeterPublic.of(m) for m in meters], page)


@router.get("/{meter_id}")
def get_meter(meter_id: str, scope: ScopeDep) -> MeterPublic:
    """One meter."""
    return MeterPublic.of(scope.meter(meter_id))


@router.get("/{meter_id}/readings", response_model=Paged[ReadingPublic])
def meter_readings(
    meter_id: str,
    scope: ScopeDep,
    store: StoreDep,
    views: LatestDep,
    page: PageDep,
    start: StartQuery = None,
    end: EndQuery = None,
    resolution: Annotated[
        Resolution, Query(description="raw, or resampled: kWh summed, other units averaged.")
    ] = Resolution.RAW,
) -> Response:
    """Readings of one meter in ``[start, end)``, in the meter's unit, oldest first."""
    meter = scope.meter(meter_id)  # scope first: the cache below is shared by every caller

    def build() -> Response:
        period = resolve_period(store, [meter.id], start, end, default_days=7)
        # the database writes the items when it can: no row in Python
        built = store.readings_page_json(
            meter.id, period.start, period.end, resolution, page.limit, page.offset
        )
        if built is not None:
            return paged_items(built[1], built[0], page)
        table = read_table(store, [meter.id], period, resolution)
        rows = table.slice(page.offset, page.limit)
        values = np.asarray(rows.column("value").to_numpy(zero_copy_only=False), dtype=float)
        return paged_points(epoch_us(rows), {"value": values}, table.num_rows, page)

    key = ("readings", meter.id, start, end, resolution.value, page.limit, page.offset)
    return cached_json(views, key, build)


@router.get("/{meter_id}/forecasts")
def meter_forecasts(
    meter_id: str,
    scope: ScopeDep,
    store: StoreDep,
    page: PageDep,
    start: StartQuery = None,
    end: EndQuery = None,
    model: Annotated[str | None, Query(max_length=100, description="Only this model.")] = None,
) -> Paged[ForecastPublic]:
    """Latest forecasts of one meter for target times in ``[start, end)``."""
    meter = scope.meter(meter_id)
    period = resolve_period(store, [meter.id], start, end, default_days=7)
    frame = store.read_forecasts([meter.id], start=period.start, end=period.end, model=model)
    rows = frame.iloc[page.offset : page.offset + page.limit]
    ts = pd.DatetimeIndex(rows["ts"]).tz_convert("UTC")
    issued = pd.DatetimeIndex(rows["issued_at"]).tz_convert("UTC")
    values = rows["value"].to_numpy(dtype=float)
    items = [
        ForecastPublic(
            ts=ts[i].to_pydatetime(),
            issued_at=issued[i].to_pydatetime(),
            horizon=_num(rows["horizon"].iloc[i]),
            quantile=_num(rows["quantile"].iloc[i]),
            value=float(values[i]),
            model=str(rows["model"].iloc[i]),
        )
        for i in range(len(rows))
        if np.isfinite(values[i])
    ]
    return Paged[ForecastPublic](
        items=items, total=len(frame), limit=page.limit, offset=page.offset
    )


def _num(value: object) -> float | None:
    """A float, or None for missing / non-numeric values (e.g. horizon stored as a duration)."""
    if isinstance(value, pd.Timedelta):
        return value.total_seconds() / 3600.0
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None
