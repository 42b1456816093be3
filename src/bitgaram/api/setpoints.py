"""Reading the control loop's setpoint journal for the API (read-only).

The control loop keeps every setpoint it publishes in the store's
``control_setpoints`` table (written through
:class:`bitgaram.control.journal.StoreJournal`); the store filters it by site,
asset and validity period and pages it in the database
(:meth:`bitgaram.store.base.Store.setpoints_page`). A store where no control
loop has written yet has no setpoints.
"""

from __future__ import annotations

import pandas as pd

from bitgaram.store.base import SetpointRecord, Store

#: One journaled setpoint (timestamps UTC, power [kW], + charge / consume).
SetpointRow = SetpointRecord


def latest_setpoint_end(store: Store, site_id: str, asset: str) -> pd.Timestamp | None:
    """The latest ``valid_until`` journaled for ``asset`` (UTC), or None without setpoints."""
    return store.latest_setpoint_end(site_id, asset)


def read_setpoints(
    store: Store,
    site_id: str,
    asset: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    limit: int,
    offset: int,
    schedule: bool = False,
) -> tuple[list[SetpointRow], int]:
    """Setpoints of one asset valid at some time in ``[start, end)``, oldest first.

    Parameters
    ----------
    store : Store
        Where the journal lives.
    site_id, asset : str
        Whose setpoints.
    start, end : pandas.Timestamp
        Period (UTC); a setpoint is included when its validity overlaps it.
    limit, offset : int
        The page.
    schedule : bool
        Only the last setpoint issued for each ``valid_from`` (the schedule
        as executed), instead of every setpoint issued.

    Returns
    -------
    tuple
        The page's rows and the number of rows in the whole period.
    """
    return store.setpoints_page(
        site_id, asset, start, end, limit=limit, offset=offset, schedule=schedule
    )
