"""Site model: the park, its tenants, meters and assets."""

from bitgaram.site.choice import SiteChoiceError, choose_site_id
from bitgaram.site.model import (
    COMPONENT_SECTIONS,
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
    read_site_file,
)

__all__ = [
    "COMPONENT_SECTIONS",
    "BatteryAsset",
    "Meter",
    "MeterKind",
    "PVAsset",
    "Site",
    "SiteChoiceError",
    "SiteInfo",
    "Tenant",
    "Unit",
    "choose_site_id",
    "load_site",
    "parse_site",
    "read_site_file",
]
