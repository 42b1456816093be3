"""Decode the JSON reading payloads used by MQTT and HTTP push.

A reading is a JSON object ``{"timestamp": ..., "value": ..., "unit": ...,
"quality": ...}`` (``quality`` optional: 0 good, 1 estimated, 2 suspect); a
batch is a JSON list of such objects. ``timestamp`` is an ISO 8601 string with
a UTC offset or a number of seconds since the Unix epoch, and is the *start*
of the interval the value belongs to. HTTP items also carry ``"meter"``.

This module checks only the *shape* of the payload (JSON, object, field
types). Everything about meaning (unknown meter, timestamp, unit, range) is
checked by :func:`bitgaram.collect.validate.validate_readings`, the same rules
as the file import.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from bitgaram.collect.writer import RawReading, Reject

#: Longest raw text kept with a quarantined payload [characters].
RAW_LIMIT = 500

_REQUIRED = ("timestamp", "value", "unit")

#: Accepted range of epoch timestamps [s]: 1970-01-01 to 9999-12-31 (what datetimes hold).
EPOCH_MIN = 0
EPOCH_MAX = 253_402_300_799

_FLOAT_MAX = sys.float_info.max


#: Longest record (the whole item as JSON) kept with a quarantined payload [characters].
RECORD_LIMIT = 4000


def _raw(obj: object) -> str:
    text = obj.decode("utf-8", "replace") if isinstance(obj, bytes | bytearray) else str(obj)
    return text[:RAW_LIMIT]


def _record(item: object) -> str:
    """The item as received, as JSON text cut to :data:`RECORD_LIMIT` (for the quarantine)."""
    try:
        text = json.dumps(item, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = _raw(item)
    return text[:RECORD_LIMIT]


def decode_item(
    item: object, line: int, meter_id: str | None
) -> tuple[RawReading | None, Reject | None]:
    """Check the shape of one reading object.

    Parameters
    ----------
    item : object
        A decoded JSON value, expected to be an object.
    line : int
        Position of the item in its message or request (for the quarantine).
    meter_id : str, optional
        The meter named by the MQTT topic; ``None`` when each item names its
        own ``"meter"`` (HTTP push).

    Returns
    -------
    (RawReading or None, Reject or None)
        Exactly one of the two is set.
    """
    record = _record(item)
    if not isinstance(item, Mapping):
        reason = "bad_shape: not a JSON object"
        return None, Reject(line, meter_id, "payload", _raw(item), reason, record)
    meter = item.get("meter", meter_id)
    if meter_id is not None and meter != meter_id:
        reason = f"meter_mismatch: item names meter {_raw(meter)!r}, the topic {meter_id!r}"
        return None, Reject(line, meter_id, "meter", _raw(meter), reason, record)
    if not isinstance(meter, str) or not meter:
        reason = "missing_field: meter missing or not a string"
        return None, Reject(line, None, "meter", _raw(meter), reason, record)

    def reject(field: str, raw: object, reason: str) -> tuple[None, Reject]:
        return None, Reject(line, meter, field, _raw(raw), reason, record)

    for name in _REQUIRED:
        if name not in item:
            return reject(name, dict(item), f"missing_field: {name!r} missing")
    ts = item["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, str | int | float):
        return reject("timestamp", ts, "wrong_type: timestamp must be ISO 8601 text or epoch [s]")
    if isinstance(ts, int | float) and not EPOCH_MIN <= ts <= EPOCH_MAX:
        return reject("timestamp", ts, "bad_timestamp: epoch seconds outside 1970..9999")
    value = item["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return reject("value", value, "wrong_type: value must be a JSON number")
    if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        return reject("value", value, "not_finite: integer beyond the float range")
    if not math.isfinite(value):
        return reject("value", value, "not_finite: NaN or infinite")
    unit = item["unit"]
    if not isinstance(unit, str):
        return reject("unit", unit, "wrong_type: unit must be a string")
    quality: Any = item.get("quality", 0)
    if isinstance(quality, bool) or quality not in (0, 1, 2):
        return reject("quality", quality, "bad_quality: not 0 (good), 1 (estimated), 2 (suspect)")
    return RawReading(meter, ts, float(value), unit, int(quality), line), None


def decode_payload(
    payload: bytes | str, meter_id: str | None
) -> tuple[list[RawReading], list[Reject]]:
    """Decode a JSON reading or batch of readings.

    Parameters
    ----------
    payload : bytes or str
        UTF-8 JSON: one reading object or a list of them.
    meter_id : str, optional
        The meter named by the MQTT topic (``None`` for HTTP items).

    Returns
    -------
    (list of RawReading, list of Reject)
        Readings to validate, and items refused for their shape. Lines are
        1-based positions in the batch; a payload that is not JSON at all
        gives a single reject with line 0 (the whole message).

    Examples
    --------
    >>> rows, bad = decode_payload(b'[{"timestamp": 0, "value": 1.5, "unit": "kWh"}, 7]', "m1")
    >>> rows[0].value, bad[0].reason
    (1.5, 'bad_shape: not a JSON object')
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        return [], [Reject(0, meter_id, "payload", _raw(payload), f"bad_json: {exc}")]
    items = data if isinstance(data, list) else [data]
    if not items:
        return [], [Reject(0, meter_id, "payload", _raw(payload), "bad_shape: empty batch")]
    return decode_items(items, meter_id)


def decode_items(items: list[Any], meter_id: str | None) -> tuple[list[RawReading], list[Reject]]:
    """Check the shape of a list of decoded reading objects (see :func:`decode_item`).

    Well-formed items take a fast path (a few type checks); anything else goes
    through :func:`decode_item`, which finds the reason.
    """
    rows: list[RawReading] = []
    rejects: list[Reject] = []
    append = rows.append
    for line, item in enumerate(items, start=1):
        if type(item) is dict and meter_id is not None:
            ts = item.get("timestamp")
            value = item.get("value")
            unit = item.get("unit")
            quality = item.get("quality", 0)
            tt = type(ts)
            tv = type(value)
            if (
                (tt is str or ((tt is float or tt is int) and EPOCH_MIN <= ts <= EPOCH_MAX))  # type: ignore[operator]
                and (tv is float or tv is int)
                and value - value == 0  # type: ignore[operator]  # finite: inf - inf and nan - nan are nan
                and -_FLOAT_MAX <= value <= _FLOAT_MAX  # type: ignore[operator]
                and type(unit) is str
                and type(quality) is int
                and 0 <= quality <= 2
                and item.get("meter", meter_id) == meter_id
            ):
                append(RawReading(meter_id, ts, float(value), unit, quality, line))  # type: ignore[arg-type]
                continue
        row, reject = decode_item(item, line, meter_id)
        if row is not None:
            append(row)
        elif reject is not None:
            rejects.append(reject)
    return rows, rejects
