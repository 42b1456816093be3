"""Alerts: peak levels with hysteresis, and the control loop's own faults.

A peak alert is **raised** when the projected window average reaches a level (a fraction of the
point's target, e.g. 90 % and 100 %) and **cleared** only when it falls below the level minus a
hysteresis band (e.g. 3 points), so a projection hovering at a level does not flap. Each
crossing is one event; the timeline of events is what the store keeps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Any

import pandas as pd

from bitgaram.errors import ConfigError

#: Default alert levels as fractions of the target [-].
DEFAULT_LEVELS = (0.9, 1.0)

#: Default hysteresis band [-]: 3 % of the target. A projection's step noise within a window
#: is of the order of one reading's deviation spread over the window (a few %), so a narrower
#: band would flap on noise, a wider one would hold an alert long after the danger passed.
DEFAULT_HYSTERESIS = 0.03


class AlertKind(StrEnum):
    """What an alert is about."""

    PEAK = "peak"
    STALE_DATA = "stale_data"
    SOLVER_FAILED = "solver_failed"
    RESUMED = "resumed"


class AlertEvent(StrEnum):
    """Raised or cleared."""

    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(frozen=True)
class Alert:
    """One alert event.

    Attributes
    ----------
    site_id : str
        The site.
    point : str
        Metering point (``park``, a tenant) or ``control`` for the loop's own faults.
    kind : AlertKind
        Peak, stale data, solver failure or resumed.
    event : AlertEvent
        Raised or cleared.
    at : pandas.Timestamp
        When it was decided (UTC).
    level : float
        Level crossed, as a fraction of the target [-] (0 for non-peak alerts).
    window_start : pandas.Timestamp or None
        The demand window concerned.
    projected_kw, target_kw, month_peak_kw, billing_kw : float
        Projected window average, target, month's peak so far, billing demand [kW].
    message : str
        One line for an operator.
    actions : tuple of dict
        Recommended actions (:class:`bitgaram.peak.actions.Action` as dicts), cheapest first.
    """

    site_id: str
    point: str
    kind: AlertKind
    event: AlertEvent
    at: pd.Timestamp
    level: float = 0.0
    window_start: pd.Timestamp | None = None
    projected_kw: float = 0.0
    target_kw: float = 0.0
    month_peak_kw: float = 0.0
    billing_kw: float = 0.0
    message: str = ""
    actions: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> str:
        """The MQTT payload: a JSON object, timestamps ISO 8601 UTC."""
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["event"] = str(self.event)
        data["at"] = self.at.isoformat()
        data["window_start"] = None if self.window_start is None else self.window_start.isoformat()
        data["actions"] = list(self.actions)
        return json.dumps(data)


class AlertTracker:
    """Level crossings of one metering point, with hysteresis.

    Parameters
    ----------
    levels : sequence of float
        Increasing fractions of the target (e.g. ``(0.9, 1.0)``).
    hysteresis : float
        A level clears below ``level - hysteresis`` (fraction of the target).

    Examples
    --------
    >>> t = AlertTracker((0.9, 1.0), 0.03)
    >>> t.update(950.0, 1000.0), t.update(880.0, 1000.0), t.update(860.0, 1000.0)
    ([(0.9, 'raised')], [], [(0.9, 'cleared')])
    """

    def __init__(
        self, levels: Sequence[float] = DEFAULT_LEVELS, hysteresis: float = DEFAULT_HYSTERESIS
    ) -> None:
        levels = tuple(float(x) for x in levels)
        if not levels or any(b <= a for a, b in pairwise(levels)):
            raise ConfigError(f"alert levels must be increasing and non-empty, got {levels}")
        if not 0 <= hysteresis < levels[0]:
            raise ConfigError(f"hysteresis must be in [0, {levels[0]}), got {hysteresis}")
        self.levels = levels
        self.hysteresis = hysteresis
        self.active = 0  # number of levels currently raised

    def update(self, projected_kw: float, target_kw: float) -> list[tuple[float, str]]:
        """Events caused by a new projection: ``(level, "raised" | "cleared")``, in order."""
        if target_kw <= 0:
            return []
        ratio = projected_kw / target_kw
        events: list[tuple[float, str]] = []
        while self.active < len(self.levels) and ratio >= self.levels[self.active]:
            events.append((self.levels[self.active], AlertEvent.RAISED.value))
            self.active += 1
        while self.active > 0 and ratio < self.levels[self.active - 1] - self.hysteresis:
            self.active -= 1
            events.append((self.levels[self.active], AlertEvent.CLEARED.value))
        return events
