"""Schemas of login and the current user."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bitgaram.api.auth import Principal, Role


class LoginIn(BaseModel):
    """User name and password of a browser login."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class MePublic(BaseModel):
    """The authenticated caller."""

    user: str
    role: Role
    tenant_id: str | None
    site_id: str | None
    can_write: bool

    @classmethod
    def of(cls, principal: Principal) -> MePublic:
        """From the request's principal."""
        return cls(
            user=principal.user,
            role=principal.role,
            tenant_id=principal.tenant_id,
            site_id=principal.site_id,
            can_write=principal.can_write,
        )
