"""Guard for the collector's HTTP push router (``POST /api/v1/readings``).

The router itself belongs to :mod:`bitgaram.collect.http`; the API mounts it
behind :func:`guard_readings_push`, which applies the same tenant scope as
every other route: viewers may not push, tenant managers only to their own
tenant's meters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import Request

from bitgaram.api.deps import ScopeDep
from bitgaram.api.errors import PermissionDeniedError


def _items(payload: object) -> list[object]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        for key in ("readings", "items"):
            inner = payload.get(key)
            if isinstance(inner, list):
                return inner
        return [payload]
    return []


async def guard_readings_push(request: Request, scope: ScopeDep) -> None:
    """Refuse pushes by read-only callers and to meters outside the caller's tenant.

    A body that is not JSON is left to the collector, which rejects it with
    its own message.
    """
    scope.require_write()
    request.state.site_id = scope.site.site.id  # which site's writer takes the readings
    if scope.is_park_wide:
        return
    try:
        payload = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return  # the collector answers 400 with its own message
    allowed = scope.writable_meter_ids()
    for item in _items(payload):
        meter = item.get("meter") if isinstance(item, Mapping) else None
        # A list or object as "meter" is no meter id (and unhashable): never a tenant's.
        if not isinstance(meter, str) or meter not in allowed:
            shown = ascii(meter)[:100] if isinstance(meter, str) else type(meter).__name__
            raise PermissionDeniedError(
                f"you may push readings only to your tenant's meters, not {shown}"
            )
