"""Schemas of assets and their setpoints (the control loop's schedule)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bitgaram.api.setpoints import SetpointRow


class AssetPublic(BaseModel):
    """A controllable or generating asset of the site."""

    id: str
    type: str
    tenant: str | None
    meter: str | None


class SetpointPublic(BaseModel):
    """One setpoint published by the control loop.

    ``power_kw`` is + for charging / consuming and - for discharging [kW];
    the setpoint holds from ``valid_from`` until ``valid_until`` (UTC).
    """

    issued_at: datetime
    asset: str
    kind: str
    power_kw: float
    valid_from: datetime
    valid_until: datetime
    mode: str
    reason: str | None

    @classmethod
    def of(cls, row: SetpointRow) -> SetpointPublic:
        """The public form of a journal row."""
        return cls(
            issued_at=row.issued_at,
            asset=row.asset,
            kind=row.kind,
            power_kw=row.power_kw,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            mode=row.mode,
            reason=row.reason,
        )
