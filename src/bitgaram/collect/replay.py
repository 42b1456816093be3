"""Submit quarantined readings again once the cause is fixed (``bitgaram quarantine replay``).

Every quarantined row keeps its original record (JSON text, see
:func:`bitgaram.collect.validate.record_text`). After the cause is fixed (a
meter added to the site file, its unit or ``max_value`` corrected, the clock
of a meter set right) :func:`replay_quarantine` runs those records through the
same validation as live input (:func:`bitgaram.collect.writer.prepare_batch`):
rows that pass now are written and their quarantine rows removed; rows that
still fail stay where they are, unchanged (nothing is quarantined twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bitgaram.collect.validate import DEFAULT_RULES, ValidationRules
from bitgaram.collect.writer import RawReading, Submission, prepare_batch
from bitgaram.errors import StoreError
from bitgaram.site import Site
from bitgaram.store.base import Store

#: Quarantine rows examined per transaction.
REPLAY_CHUNK = 10_000


@dataclass(frozen=True)
class ReplayReport:
    """Outcome of one replay.

    Attributes
    ----------
    examined : int
        Quarantined rows with a record that matched the filters.
    replayed : int
        Rows that passed validation now: written, and removed from the quarantine.
    still_failing : int
        Rows that fail again (left in the quarantine).
    unreplayable : int
        Rows whose record cannot be a reading (bad JSON or shape; left as they are).
    """

    examined: int = 0
    replayed: int = 0
    still_failing: int = 0
    unreplayable: int = 0


def reading_from_record(record: str, site: Site) -> RawReading | None:
    """The reading a quarantine record describes, or None if it cannot be one.

    Records of file rows carry text fields (``ts``, ``value``) and no unit (a
    file's values are in the meter's unit); records of live input carry the
    payload's fields.
    """
    try:
        data: Any = json.loads(record)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    meter = data.get("meter_id", data.get("meter"))
    stamp = data.get("timestamp", data.get("ts"))
    if not isinstance(meter, str) or stamp in (None, ""):
        return None
    try:
        value = float(data.get("value"))  # type: ignore[arg-type]
        quality = int(data.get("quality") or 0)
    except (TypeError, ValueError):
        return None
    units = {m.id: str(m.unit) for m in site.meters}
    unit = data["unit"] if "unit" in data else units.get(meter)
    return RawReading(meter, stamp, value, unit, quality)


def replay_quarantine(
    store: Store,
    site: Site,
    *,
    source_prefix: str = "",
    reason_prefix: str = "",
    rules: ValidationRules = DEFAULT_RULES,
    dry_run: bool = False,
    progress: Callable[[ReplayReport], None] | None = None,
) -> ReplayReport:
    """Validate quarantined records again; store and un-quarantine those that pass.

    Parameters
    ----------
    store : Store
        A SQL store (DuckDB or PostgreSQL) holding the quarantine.
    site : Site
        The site as it is now (after the fix).
    source_prefix, reason_prefix : str
        Only rows whose source / reason start with these.
    rules : ValidationRules
        Validation thresholds and timestamp window.
    dry_run : bool
        Count what would pass, change nothing.
    progress : callable, optional
        Called with the running totals after each chunk.

    Returns
    -------
    ReplayReport

    Raises
    ------
    StoreError
        If the store keeps no records (not a SQL store).
    """
    listing = getattr(store, "quarantined_records", None)
    delete = getattr(store, "delete_quarantine", None)
    if listing is None or delete is None:
        raise StoreError(f"{store.url}: this store keeps no quarantine records to replay")
    total = ReplayReport()
    after = -1
    while True:
        rows: pd.DataFrame = listing(source_prefix, reason_prefix, limit=REPLAY_CHUNK, after=after)
        if rows.empty:
            return total
        after = int(rows["id"].max())
        step = _replay_chunk(store, site, rows, rules, dry_run, delete)
        total = ReplayReport(
            total.examined + step.examined,
            total.replayed + step.replayed,
            total.still_failing + step.still_failing,
            total.unreplayable + step.unreplayable,
        )
        if progress is not None:
            progress(total)


def _replay_chunk(
    store: Store,
    site: Site,
    rows: pd.DataFrame,
    rules: ValidationRules,
    dry_run: bool,
    delete: Callable[[list[int]], int],
) -> ReplayReport:
    subs: list[Submission] = []
    ids: list[int] = []
    for qid, source, record in zip(rows["id"], rows["source"], rows["record"], strict=True):
        reading = reading_from_record(str(record), site)
        if reading is not None:
            subs.append(Submission(f"replay:{source}", [reading]))
            ids.append(int(qid))
    prepared = prepare_batch(subs, site, rules)
    passed = [qid for qid, r in zip(ids, prepared.results, strict=True) if r.accepted == 1]
    if passed and not dry_run:
        # Readings first: a crash before the delete leaves rows that replay as
        # unchanged next time (writes are idempotent), never a lost reading.
        store.write_readings(prepared.readings, source="replay")
        delete(passed)
    return ReplayReport(
        examined=len(rows),
        replayed=len(passed),
        still_failing=len(ids) - len(passed),
        unreplayable=len(rows) - len(ids),
    )
