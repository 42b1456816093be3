"""``/api/v1/assets``: the site's assets and the control loop's setpoints and schedule.

Setpoints come from the control loop's journal (``bitgaram control run``
records every setpoint it publishes). A tenant sees only its own assets; the
park's shared assets (the park ESS) are for park-wide callers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query

from bitgaram.api.deps import PageDep, ScopeDep, StoreDep
from bitgaram.api.period import MAX_PERIOD_DAYS, Period, to_utc
from bitgaram.api.schemas.common import Paged, paginate
from bitgaram.api.schemas.control import AssetPublic, SetpointPublic
from bitgaram.api.setpoints import latest_setpoint_end, read_setpoints
from bitgaram.errors import DataError
from bitgaram.site.model import Asset

router = APIRouter(prefix="/assets", tags=["assets"])

#: Default period of setpoint queries [days], ending at the last journaled setpoint.
DEFAULT_DAYS = 2.0

StartQuery = Annotated[
    datetime | None,
    Query(description="Period start (ISO 8601; naive = UTC). Default: 2 days before `end`."),
]
EndQuery = Annotated[
    datetime | None,
    Query(
        description="Period end, exclusive (ISO 8601; naive = UTC). "
        "Default: the end of the newest setpoint of the asset."
    ),
]


def _public(asset: Asset) -> AssetPublic:
    return AssetPublic(id=asset.id, type=asset.type, tenant=asset.tenant, meter=asset.meter)


@router.get("")
def list_assets(scope: ScopeDep, page: PageDep) -> Paged[AssetPublic]:
    """Assets the caller may see (its own tenant's only, for a tenant manager)."""
    return paginate([_public(a) for a in scope.assets()], page)


@router.get("/{asset_id}")
def get_asset(asset_id: str, scope: ScopeDep) -> AssetPublic:
    """One asset."""
    return _public(scope.asset(asset_id))


def _period(
    store: StoreDep, site_id: str, asset_id: str, start: datetime | None, end: datetime | None
) -> Period | None:
    """The query period, or None when no end is given and the asset has no setpoints."""
    s, e = to_utc(start), to_utc(end)
    span = pd.Timedelta(days=DEFAULT_DAYS)
    if e is None:
        e = s + span if s is not None else latest_setpoint_end(store, site_id, asset_id)
        if e is None:
            return None
    if s is None:
        s = e - span
    if s >= e:
        raise DataError(f"start {s.isoformat()} must be before end {e.isoformat()}")
    if e - s > pd.Timedelta(days=MAX_PERIOD_DAYS):
        raise DataError(f"period longer than {MAX_PERIOD_DAYS} days: ask for less")
    return Period(s, e)


def _setpoints(
    asset_id: str,
    scope: ScopeDep,
    store: StoreDep,
    page: PageDep,
    start: datetime | None,
    end: datetime | None,
    schedule: bool,
) -> Paged[SetpointPublic]:
    asset = scope.asset(asset_id)
    site_id = scope.site.site.id
    period = _period(store, site_id, asset.id, start, end)
    if period is None:
        return Paged[SetpointPublic](items=[], total=0, limit=page.limit, offset=page.offset)
    rows, total = read_setpoints(
        store, site_id, asset.id, period.start, period.end, page.limit, page.offset, schedule
    )
    return Paged[SetpointPublic](
        items=[SetpointPublic.of(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{asset_id}/setpoints")
def asset_setpoints(
    asset_id: str,
    scope: ScopeDep,
    store: StoreDep,
    page: PageDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> Paged[SetpointPublic]:
    """Every setpoint the control loop issued for the asset, valid at some time in the period.

    Ordered by ``valid_from`` then ``issued_at``; several setpoints may cover
    one interval (a plan, then a peak action that overrode it).
    """
    return _setpoints(asset_id, scope, store, page, start, end, schedule=False)


@router.get("/{asset_id}/schedule")
def asset_schedule(
    asset_id: str,
    scope: ScopeDep,
    store: StoreDep,
    page: PageDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> Paged[SetpointPublic]:
    """The optimized schedule as executed: the last setpoint issued for each interval start.

    Power [kW] is + for charging / consuming and - for discharging.
    """
    return _setpoints(asset_id, scope, store, page, start, end, schedule=True)
