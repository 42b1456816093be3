"""Metering points: the park connection and each tenant, as signed sums of site meters.

A point is read directly when the site has a grid-import (or net) meter for it; otherwise it is
rebuilt from the meters behind it: loads, data centres, EV chargers and batteries add, PV and
wind subtract (a tenant's rooftop PV lowers what its sub-meter sees). Only energy or power meters
take part; prices, intensities and weather do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitgaram.site.model import MeterKind, Site, Unit

#: Name of the park-connection metering point.
PARK_POINT = "park"

_ADD = frozenset({MeterKind.LOAD, MeterKind.DATA_CENTRE, MeterKind.EV_CHARGER, MeterKind.BATTERY})
_SUBTRACT = frozenset({MeterKind.PV, MeterKind.WIND})
_DIRECT = (MeterKind.GRID_IMPORT, MeterKind.GRID_NET)


@dataclass(frozen=True)
class MeteringPoint:
    """A point whose 15-minute demand is watched.

    Attributes
    ----------
    id : str
        ``"park"`` or the tenant id.
    meters : tuple of (str, float)
        Meter ids with their sign (+1 consumption, -1 generation).
    tenant : str or None
        The tenant (None for the park connection).
    """

    id: str
    meters: tuple[tuple[str, float], ...]
    tenant: str | None = None


def _point(site: Site, tenant: str | None, everything: bool) -> tuple[tuple[str, float], ...]:
    pool = site.meters if everything else site.meters_of(tenant)
    pool = tuple(m for m in pool if m.unit in (Unit.KWH, Unit.KW))
    direct = [m for m in pool if m.kind in _DIRECT and (m.tenant == tenant)]
    if direct:
        return ((direct[0].id, 1.0),)
    out = [(m.id, 1.0) for m in pool if m.kind in _ADD]
    out += [(m.id, -1.0) for m in pool if m.kind in _SUBTRACT]
    return tuple(out)


def metering_points(site: Site) -> tuple[MeteringPoint, ...]:
    """The park connection and every tenant with at least one meter behind it.

    Examples
    --------
    >>> from bitgaram.site import parse_site
    >>> site = parse_site({"site": {"id": "p", "name": "P"},
    ...     "tenants": [{"id": "a", "name": "A"}],
    ...     "meters": [{"id": "a-load", "kind": "load", "unit": "kWh", "tenant": "a"},
    ...                {"id": "pv", "kind": "pv", "unit": "kWh"}]})
    >>> [(p.id, p.meters) for p in metering_points(site)]
    [('park', (('a-load', 1.0), ('pv', -1.0))), ('a', (('a-load', 1.0),))]
    """
    points = []
    park = _point(site, None, everything=True)
    if park:
        points.append(MeteringPoint(PARK_POINT, park))
    for tenant in site.tenants:
        meters = _point(site, tenant.id, everything=False)
        if meters:
            points.append(MeteringPoint(tenant.id, meters, tenant.id))
    return tuple(points)
