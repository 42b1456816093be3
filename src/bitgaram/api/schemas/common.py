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


class ErrorDetail(BaseModel):
    """One problem found in a request (422 answers)."""

    loc: list[str]
    msg: str


class ErrorPublic(BaseModel):
    """Body of every error response: a kind, a message, and for 422 the problems found."""

    error: str
    message: str
    detail: list[ErrorDetail] | None = None


def _error(description: str) -> dict[str, object]:
    return {"model": ErrorPublic, "description": description}


#: Error answers every authenticated API operation may give, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: _error("No valid token or session cookie (`WWW-Authenticate: Bearer`)"),
    403: _error("The caller's role may not do this"),
    404: _error("Not found, or outside the caller's tenant"),
    422: _error("The request is invalid; `detail` lists each problem"),
    429: _error("Too many failed logins or token checks; see `Retry-After`"),
}

#: Further answers of ``POST /api/v1/readings``.
PUSH_RESPONSES: dict[int | str, dict[str, object]] = {
    400: _error("The body is not JSON, nests too deeply, or is not a list of readings"),
    413: _error("More than 100,000 readings or 32 MiB in one request"),
    415: _error("The body is not declared as `application/json`"),
    503: _error("The store is unavailable or the collector is stopping; resend later"),
}


def paged_points(
    ts: pd.DatetimeIndex | np.ndarray,
    columns: Mapping[str, np.ndarray],
    total: int,
    page: Page,
) -> Response:
    """A page of time points as JSON, built without one Python object per row.

    A month of 15-minute rows is ~3,000 items; they are formatted column-wise
    (one string per row from a template; floats with :func:`repr`, as the
    :mod:`json` module writes them), which keeps the response within the
    API's latency budget. The body has the shape of :class:`Paged` of items
    ``{"ts": ..., <column>: ...}``; rows with a non-finite value in any column
    are left out.

    Parameters
    ----------
    ts : pandas.DatetimeIndex or numpy.ndarray
        UTC interval starts of the page's rows (an index, or int64
        microseconds since the epoch).
    columns : mapping
        Column name -> float array aligned with ``ts``.
    total : int
        Rows in the whole list (before pagination).
    page : Page
        The requested slice (for the echo of ``limit`` and ``offset``).
    """
    if isinstance(ts, pd.DatetimeIndex):
        micros = ts.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[us]")
    else:
        micros = np.asarray(ts, dtype=np.int64).astype("datetime64[us]")
    keep = np.ones(len(micros), dtype=bool)
    arrays = [np.asarray(v, dtype=float) for v in columns.values()]
    for values in arrays:
        keep &= np.isfinite(values)
    stamps = np.datetime_as_string(micros[keep].astype("datetime64[s]"), unit="s").tolist()
    n, names = len(stamps), list(columns)
    # One flat list of string pieces, filled a column at a time by slice
    # assignment: [open, ts, key_1, value_1, ..., key_k, value_k] per row.
    width = 2 + 2 * len(names)
    pieces: list[str] = [""] * (width * n)
    pieces[0::width] = ['},{"ts":"'] * n
    if n:
        pieces[0] = '{"ts":"'
    pieces[1::width] = stamps
    for j, (name, values) in enumerate(zip(names, arrays, strict=True)):
        key = ('Z",' if j == 0 else ",") + json.dumps(name) + ":"
        pieces[2 + 2 * j :: width] = [key] * n
        pieces[3 + 2 * j :: width] = list(map(float.__repr__, values[keep].tolist()))
    if not names:
        pieces[1::width] = [f'{t}Z"' for t in stamps]
    items = "".join(pieces) + ("}" if n else "")
    return paged_items(items, total, page)


def paged_items(items: str, total: int, page: Page) -> Response:
    """A :class:`Paged` JSON response around items already written as JSON.

    Parameters
    ----------
    items : str
        The page's items, comma-separated, without the brackets.
    total : int
        Rows in the whole list (before pagination).
    page : Page
        The requested slice (for the echo of ``limit`` and ``offset``).
    """
    body = (
        f'{{"items":[{items}],"total":{int(total)},'
        f'"limit":{int(page.limit)},"offset":{int(page.offset)}}}'
    )
    return Response(body, media_type="application/json")
