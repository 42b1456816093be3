"""Tenant scoping: the ONE place that decides which tenants and meters a caller may see.

Every route receives a :class:`TenantScope` (through
:data:`bitgaram.api.deps.ScopeDep`) and asks it for tenants and meters; no route
filters by tenant on its own. Anything outside the scope answers 404, the same
as a missing resource, so a tenant cannot probe for other tenants' ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitgaram.api.auth import Principal
from bitgaram.api.errors import NotFoundError, PermissionDeniedError
from bitgaram.site import Site
from bitgaram.site.model import Asset, Meter, MeterKind, Tenant

#: Site-level meters every tenant may read: shared context, not anyone's consumption.
SHARED_KINDS = frozenset({MeterKind.PRICE, MeterKind.CARBON_INTENSITY, MeterKind.WEATHER})


@dataclass(frozen=True)
class TenantScope:
    """What one caller may see of one site.

    Attributes
    ----------
    principal : Principal
        The authenticated caller.
    site : Site
        The site served.
    """

    principal: Principal
    site: Site

    @property
    def is_park_wide(self) -> bool:
        """Whether the caller sees every tenant (operator, or a park-wide viewer)."""
        return self.principal.sees_all_tenants

    @property
    def tenant_ids(self) -> frozenset[str]:
        """Ids of the visible tenants."""
        if self.is_park_wide:
            return frozenset(t.id for t in self.site.tenants)
        return frozenset(t.id for t in self.site.tenants if t.id == self.principal.tenant_id)

    def tenants(self) -> tuple[Tenant, ...]:
        """The visible tenants, in site order."""
        visible = self.tenant_ids
        return tuple(t for t in self.site.tenants if t.id in visible)

    def tenant(self, tenant_id: str) -> Tenant:
        """A visible tenant; NotFoundError otherwise."""
        if tenant_id in self.tenant_ids:
            return self.site.tenant(tenant_id)
        raise NotFoundError(f"no tenant {tenant_id!r}")

    def _visible(self, meter: Meter) -> bool:
        if self.is_park_wide:
            return True
        if meter.tenant is None:
            return meter.kind in SHARED_KINDS
        return meter.tenant in self.tenant_ids

    def meters(self) -> tuple[Meter, ...]:
        """The visible meters: own tenants' meters plus shared site-level series."""
        return tuple(m for m in self.site.meters if self._visible(m))

    def meter(self, meter_id: str) -> Meter:
        """A visible meter; NotFoundError otherwise."""
        for m in self.site.meters:
            if m.id == meter_id and self._visible(m):
                return m
        raise NotFoundError(f"no meter {meter_id!r}")

    def _asset_visible(self, asset: Asset) -> bool:
        # Site-level assets (the park's ESS) are park operations, not shared context.
        return self.is_park_wide or (asset.tenant is not None and asset.tenant in self.tenant_ids)

    def assets(self) -> tuple[Asset, ...]:
        """The visible assets: all for park-wide callers, else the own tenants' assets."""
        return tuple(a for a in self.site.assets if self._asset_visible(a))

    def asset(self, asset_id: str) -> Asset:
        """A visible asset; NotFoundError otherwise."""
        for a in self.site.assets:
            if a.id == asset_id and self._asset_visible(a):
                return a
        raise NotFoundError(f"no asset {asset_id!r}")

    def require_park(self) -> None:
        """Refuse park-wide views (totals over all tenants) to tenant-limited callers."""
        if not self.is_park_wide:
            raise PermissionDeniedError(
                "park-wide data is for the park operator; use /api/v1/tenants/{id} endpoints"
            )

    def require_write(self) -> None:
        """Refuse changes to read-only callers."""
        if not self.principal.can_write:
            raise PermissionDeniedError(f"role {self.principal.role.value!r} is read-only")

    def writable_meter_ids(self) -> frozenset[str]:
        """Meters the caller may push readings to (own tenants' meters; all for operators)."""
        if not self.principal.can_write:
            return frozenset()
        if self.is_park_wide:
            return frozenset(m.id for m in self.site.meters)
        return frozenset(m.id for m in self.site.meters if m.tenant in self.tenant_ids)
