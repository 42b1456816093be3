"""The store: a park's site model, readings, quarantine and forecasts.

Open one with :func:`open_store`; every backend implements :class:`Store`
(see :mod:`bitgaram.store.base` for the semantics).
"""

from bitgaram.store.base import (
    FORECAST_COLUMNS,
    QUARANTINE_COLUMNS,
    READING_COLUMNS,
    Quality,
    Resolution,
    Store,
    WriteReport,
)
from bitgaram.store.connect import open_store, resolve_url

__all__ = [
    "FORECAST_COLUMNS",
    "QUARANTINE_COLUMNS",
    "READING_COLUMNS",
    "Quality",
    "Resolution",
    "Store",
    "WriteReport",
    "open_store",
    "resolve_url",
]
