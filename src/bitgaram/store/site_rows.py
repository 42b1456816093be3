"""Flatten a :class:`~bitgaram.site.Site` into the rows of the normalised site tables.

The validated site is stored whole as JSON (the source of truth for
:meth:`Store.load_site`) and, for SQL joins, as ``tenants``, ``meters`` and
``assets`` rows built here.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitgaram.site import Site


@dataclass(frozen=True)
class SiteRows:
    """Rows of the site tables for one site (tuples in table column order).

    Attributes
    ----------
    site : tuple
        ``(site_id, name, timezone, document)`` with the site as JSON.
    tenants : list of tuple
        ``(site_id, tenant_id, name, sector)``.
    meters : list of tuple
        ``(meter_id, site_id, tenant_id, kind, unit, resolution_s, is_energy)``.
    assets : list of tuple
        ``(site_id, asset_id, tenant_id, type, meter_id)``.
    """

    site: tuple[str, str, str, str]
    tenants: list[tuple[str, str, str, str | None]]
    meters: list[tuple[str, str, str | None, str, str, int, bool]]
    assets: list[tuple[str, str, str | None, str, str | None]]


def site_rows(site: Site) -> SiteRows:
    """The table rows describing ``site``.

    Examples
    --------
    >>> from bitgaram.site import parse_site
    >>> s = parse_site({"site": {"id": "p", "name": "Park"},
    ...                 "meters": [{"id": "m", "kind": "load", "unit": "kWh"}]})
    >>> site_rows(s).meters
    [('m', 'p', None, 'load', 'kWh', 3600, True)]
    """
    sid = site.site.id
    return SiteRows(
        site=(sid, site.site.name, site.site.timezone, site.model_dump_json()),
        tenants=[(sid, t.id, t.name, t.sector) for t in site.tenants],
        meters=[
            (
                m.id,
                sid,
                m.tenant,
                m.kind.value,
                m.unit.value,
                m.resolution_seconds,
                m.unit.is_energy,
            )
            for m in site.meters
        ],
        assets=[(sid, a.id, a.tenant, a.type, a.meter) for a in site.assets],
    )
