"""Setpoints: what each asset should do, until when, and why.

Published on ``<prefix>/<site>/<asset>/setpoint`` as JSON::

    {"asset": "park-ess", "kind": "battery", "power_kw": -250.0,
     "valid_from": "2026-08-03T05:00:00+00:00", "valid_until": "2026-08-03T05:20:00+00:00",
     "mode": "mpc", "reason": "plan"}

``power_kw`` is + for charging / consuming, - for discharging. A device whose setpoint has
expired (``valid_until`` passed without a new one) must fall back to its own safe state (ESS
idle, EV charger at full power, job controller as scheduled): the validity is one control
interval plus a grace of a third of it, so one late tick does not drop the devices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd


class Mode(StrEnum):
    """Where a setpoint comes from."""

    MPC = "mpc"
    PEAK = "peak"
    SAFE = "safe"


@dataclass(frozen=True)
class Setpoint:
    """One asset's setpoint.

    Attributes
    ----------
    asset : str
        Asset, vehicle or job id.
    kind : str
        ``battery``, ``ev`` or ``job``.
    power_kw : float
        Power [kW], + charge / consume, - discharge (a job: its power when it runs, else 0).
    valid_from, valid_until : pandas.Timestamp
        Validity period (UTC).
    mode : Mode
        MPC plan, peak action, or safe fallback.
    reason : str
        Why (plan, the alert, or the fault that caused the fallback).
    """

    asset: str
    kind: str
    power_kw: float
    valid_from: pd.Timestamp
    valid_until: pd.Timestamp
    mode: Mode
    reason: str = ""

    def to_json(self) -> str:
        """The MQTT payload."""
        return json.dumps(
            {
                "asset": self.asset,
                "kind": self.kind,
                "power_kw": round(float(self.power_kw), 3),
                "valid_from": self.valid_from.isoformat(),
                "valid_until": self.valid_until.isoformat(),
                "mode": str(self.mode),
                "reason": self.reason,
            }
        )


def setpoint_topic(prefix: str, site_id: str, asset: str) -> str:
    """Topic of one asset's setpoints."""
    return f"{prefix}/{site_id}/{asset}/setpoint"


def alert_topic(prefix: str, site_id: str) -> str:
    """Topic of a site's alerts."""
    return f"{prefix}/{site_id}/alerts"


def status_topic(prefix: str, site_id: str) -> str:
    """Topic of the loop's status after each interval (mode, active faults)."""
    return f"{prefix}/{site_id}/control/status"


def validity(start: pd.Timestamp, interval_s: float) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Validity period of a setpoint issued at ``start``: one interval plus a third as grace."""
    return start, start + pd.Timedelta(seconds=interval_s * 4 / 3)
