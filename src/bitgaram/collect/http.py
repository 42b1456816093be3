"""HTTP push: ``POST /api/v1/readings`` takes a batch of readings.

The body is a JSON list of readings (or ``{"readings": [...]}``), each
``{"meter": ..., "timestamp": ..., "value": ..., "unit": ..., "quality": ...}``
as in :mod:`bitgaram.collect.payload`. Readings go through the same
:class:`~bitgaram.collect.writer.BatchWriter` as MQTT and Modbus (same
validation, same batching and retries) and the response is sent once the batch
holding them is committed: ``accepted`` readings are stored, ``quarantined``
ones are in the quarantine table, each with its line (1-based position in the
request) and reason. Writes are idempotent, so a client that timed out may
simply send the same batch again.

:func:`readings_router` is mounted by the web API; :func:`create_app` is a
small stand-alone app for the collector service.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from bitgaram.collect.payload import decode_items
from bitgaram.collect.writer import BatchWriter, Submission, SubmissionResult, message_key
from bitgaram.site import Site
from bitgaram.store.base import Store

#: Default wait of a request for its batch to be committed before answering 503 [s].
COMMIT_TIMEOUT = 30.0

#: Largest batch one request may carry [readings].
MAX_BATCH = 100_000

#: Largest request body [bytes]: 100,000 readings of ~120 bytes each, with room to spare.
MAX_BODY_BYTES = 32 * 1024 * 1024

#: Media types a push may declare (JSON; ``+json`` suffixes are JSON too).
_JSON_TYPES = ("application/json",)


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header declares JSON (``application/json`` or ``*/*+json``).

    Examples
    --------
    >>> is_json_media_type("application/json; charset=utf-8"), is_json_media_type("text/csv")
    (True, False)
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def parse_json_body(body: bytes) -> Any:
    """Decode a JSON request body; 400 for text that is not JSON or nests too deeply.

    Raises
    ------
    fastapi.HTTPException
        400 with the decoder's message.
    """
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise HTTPException(400, "body is not usable JSON: nested too deeply") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from exc


class PushedReading(BaseModel):
    """One reading of a push body (the shape checked by :mod:`bitgaram.collect.payload`)."""

    meter: str = Field(min_length=1, max_length=200, description="Meter id of the site.")
    timestamp: str | float = Field(
        description="Interval start: ISO 8601 with a UTC offset, or seconds since the epoch."
    )
    value: float = Field(description="Reading in the meter's unit.")
    unit: str = Field(max_length=50, description="The meter's unit, e.g. kWh.")
    quality: int = Field(default=0, ge=0, le=2, description="0 good, 1 estimated, 2 suspect.")


def push_body_schema() -> dict[str, Any]:
    """OpenAPI body of ``POST /api/v1/readings``: a list of readings or ``{"readings": [...]}``."""
    item = PushedReading.model_json_schema()
    batch = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_BATCH}
    wrapped = {"type": "object", "properties": {"readings": batch}, "required": ["readings"]}
    return {
        "required": True,
        "content": {"application/json": {"schema": {"anyOf": [batch, wrapped]}}},
    }


class RejectedReading(BaseModel):
    """Why one reading of the request was quarantined."""

    line: int
    meter_id: str | None
    field: str
    reason: str


class IngestResult(BaseModel):
    """Answer to a batch: counts, and the reason for every quarantined reading."""

    accepted: int
    quarantined: int
    rejected: list[RejectedReading]


def get_writer(request: Request) -> BatchWriter:
    """The :class:`BatchWriter` of the request's site; 503 if absent.

    An app serving several sites keeps one writer per site in
    ``app.state.collect_writers`` and names the request's site in
    ``request.state.site_id`` (the API's push guard does); else
    ``app.state.collect_writer`` is the one writer.
    """
    writers = getattr(request.app.state, "collect_writers", None)
    site_id = getattr(request.state, "site_id", None)
    if isinstance(writers, dict) and site_id in writers:
        writer = writers[site_id]
    else:
        writer = getattr(request.app.state, "collect_writer", None)
    if not isinstance(writer, BatchWriter):
        raise HTTPException(503, "the reading collector is not running")
    return writer


WriterDep = Annotated[BatchWriter, Depends(get_writer)]


async def _post_readings(
    request: Request, writer: WriterDep, commit_timeout: float = COMMIT_TIMEOUT
) -> IngestResult:
    if not is_json_media_type(request.headers.get("content-type")):
        raise HTTPException(415, "send the readings as JSON (Content-Type: application/json)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")
    data: Any = parse_json_body(body)
    if isinstance(data, dict) and "readings" in data:
        data = data["readings"]
    if not isinstance(data, list):
        raise HTTPException(400, 'body must be a list of readings or {"readings": [...]}')
    if len(data) > MAX_BATCH:
        raise HTTPException(413, f"at most {MAX_BATCH} readings per request")
    rows, rejects = decode_items(data, None)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[SubmissionResult] = loop.create_future()

    def finish(result: SubmissionResult) -> None:
        if not done.done():
            done.set_result(result)

    client = request.client.host if request.client else "unknown"
    # Keyed by the body: a batch resent after a timeout is not quarantined twice.
    key = message_key("http", body)
    await writer.submit(Submission(f"http:{client}", rows, rejects, finish, key))
    try:
        result = await asyncio.wait_for(asyncio.shield(done), commit_timeout)
    except TimeoutError as exc:
        raise HTTPException(
            503, "store unavailable: the batch is queued; resend it later (writes are idempotent)"
        ) from exc
    if not result.committed:
        raise HTTPException(
            503, "the collector is shutting down: nothing was stored; resend the batch later"
        )
    return IngestResult(
        accepted=result.accepted,
        quarantined=result.quarantined,
        rejected=[
            RejectedReading(line=r.line, meter_id=r.meter_id, field=r.field, reason=r.reason)
            for r in result.rejections
        ],
    )


def readings_router(commit_timeout: float = COMMIT_TIMEOUT) -> APIRouter:
    """The router of ``POST /api/v1/readings`` (needs ``app.state.collect_writer``).

    Parameters
    ----------
    commit_timeout : float
        How long a request waits for its batch to be committed [s]; after
        that it is answered 503 (the batch stays queued and is still written).
    """
    router = APIRouter(prefix="/api/v1", tags=["readings"])

    async def post_readings(request: Request, writer: WriterDep) -> IngestResult:
        return await _post_readings(request, writer, commit_timeout)

    router.add_api_route(
        "/readings",
        post_readings,
        methods=["POST"],
        response_model=IngestResult,
        summary="Push a batch of readings",
        openapi_extra={"requestBody": push_body_schema()},
    )
    return router


def create_app(
    site: Site, store: Store, *, commit_timeout: float = COMMIT_TIMEOUT, **writer_options: Any
) -> FastAPI:
    """A stand-alone collector app: the readings router and its writer.

    Parameters
    ----------
    site : Site
        Readings are validated against it.
    store : Store
        Where they are written.
    commit_timeout : float
        See :func:`readings_router` [s].
    **writer_options
        Passed to :class:`BatchWriter` (``max_rows``, ``max_delay``, ...).

    Returns
    -------
    fastapi.FastAPI
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        writer = BatchWriter(store, site, **writer_options)
        task = asyncio.create_task(writer.run())
        app.state.collect_writer = writer
        try:
            yield
        finally:
            await writer.close()
            await task

    app = FastAPI(title="bitgaram collector", lifespan=lifespan)
    app.include_router(readings_router(commit_timeout))
    return app
