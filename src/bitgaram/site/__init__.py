"""Site model: the park, its tenants, meters and assets."""

from bitgaram.site.model import (
    BatteryAsset,
    Meter,
    MeterKind,
    PVAsset,
    Site,
    SiteInfo,
    Tenant,
    Unit,
    load_site,
    parse_site,
)

__all__ = [
    "BatteryAsset",
    "Meter",
    "MeterKind",
    "PVAsset",
    "Site",
    "SiteInfo",
    "Tenant",
    "Unit",
    "load_site",
    "parse_site",
]
