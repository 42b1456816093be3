"""Schemas shared by every resource: pages and errors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

import numpy as np
import pandas as pd
from fastapi import Response
from pydantic import BaseModel

from bitgaram.api.deps import Page

T = TypeVar("T")


class Paged(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


def paginate(items: Sequence[T], page: Page) -> Paged[T]:
    """Cut one page out of a full list."""
    return Paged[T](
        items=list(items[page.offset : page.offset + page.limit]),
        total=len(items),
        limit=page.limit,
        offset=page.offset,
    )


class ErrorPublic(BaseModel):
    """Body of every error response."""

    error: str
    message: str


def paged_points(
    ts: pd.DatetimeIndex, columns: Mapping[str, np.ndarray], total: int, page: Page
) -> Response:
    """A page of time points as JSON, built without one pydantic object per row.

    A month of 15-minute rows is ~3,000 items; building them column-wise keeps
    the response within the API's latency budget. The body has the shape of
    :class:`Paged` of items ``{"ts": ..., <column>: ...}``; rows with a
    non-finite value in any column are left out.

    Parameters
    ----------
    ts : pandas.DatetimeIndex
        UTC interval starts of the page's rows.
    columns : mapping
        Column name -> float array aligned with ``ts``.
    total : int
        Rows in the whole list (before pagination).
    page : Page
        The requested slice (for the echo of ``limit`` and ``offset``).
    """
    keep = np.ones(len(ts), dtype=bool)
    for values in columns.values():
        keep &= np.isfinite(values)
    seconds = ts[keep].tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[s]")
    stamps = [f"{t}Z" for t in np.datetime_as_string(seconds, unit="s").tolist()]
    names = ("ts", *columns)
    rows = zip(stamps, *(np.asarray(v)[keep].tolist() for v in columns.values()), strict=True)
    body = {
        "items": [dict(zip(names, row, strict=True)) for row in rows],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }
    return Response(json.dumps(body, allow_nan=False), media_type="application/json")
