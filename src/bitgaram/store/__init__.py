"""The store: a park's site model, readings, quarantine, forecasts and control timeline.

Open one with :func:`open_store`; every backend implements :class:`Store`
(see :mod:`bitgaram.store.base` for the semantics).
"""

from bitgaram.store.base import (
    ALERT_COLUMNS,
    DR_EVENT_COLUMNS,
    EV_SESSION_COLUMNS,
    FORECAST_COLUMNS,
    QUARANTINE_COLUMNS,
    READING_COLUMNS,
    SETPOINT_COLUMNS,
    AlertRecord,
    DrEventRecord,
    EvSessionRecord,
    Quality,
    Resolution,
    SetpointRecord,
    Store,
    WriteReport,
)
from bitgaram.store.connect import open_store, resolve_url

__all__ = [
    "ALERT_COLUMNS",
    "DR_EVENT_COLUMNS",
    "EV_SESSION_COLUMNS",
    "FORECAST_COLUMNS",
    "QUARANTINE_COLUMNS",
    "READING_COLUMNS",
    "SETPOINT_COLUMNS",
    "AlertRecord",
    "DrEventRecord",
    "EvSessionRecord",
    "Quality",
    "Resolution",
    "SetpointRecord",
    "Store",
    "WriteReport",
    "open_store",
    "resolve_url",
]
