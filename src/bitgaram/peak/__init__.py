"""Peak watch: the running 15-minute demand of each metering point, alerts and actions.

Pure core (no I/O): :mod:`~bitgaram.peak.points` (which meters make a metering point),
:mod:`~bitgaram.peak.window` (clock-aligned windows and the end-of-window projection),
:mod:`~bitgaram.peak.alerts` (levels with hysteresis), :mod:`~bitgaram.peak.watch` (the
per-point state: window, month peak, billing demand) and :mod:`~bitgaram.peak.actions`
(which flexible assets can cut how many kW within the window, ordered by cost).
Publishing and storing alerts is done by :mod:`bitgaram.control`.
"""

from bitgaram.peak.actions import Action, Flexibility, recommend_actions
from bitgaram.peak.alerts import Alert, AlertKind, AlertTracker
from bitgaram.peak.points import MeteringPoint, metering_points
from bitgaram.peak.watch import PeakWatch, PointStatus
from bitgaram.peak.window import WindowProjection, project_window, window_start

__all__ = [
    "Action",
    "Alert",
    "AlertKind",
    "AlertTracker",
    "Flexibility",
    "MeteringPoint",
    "PeakWatch",
    "PointStatus",
    "WindowProjection",
    "metering_points",
    "project_window",
    "recommend_actions",
    "window_start",
]
