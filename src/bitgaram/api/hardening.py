"""Browser security headers, refusal of control characters in URLs, and HTTPS detection.

:class:`HardeningMiddleware` wraps the whole app (API, dashboard, docs):

- every response carries ``Content-Security-Policy`` (scripts and styles from
  this origin only, no inline code, no framing: :data:`CSP`),
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``. The interactive API docs (``/docs``)
  are FastAPI's Swagger page, which loads its script from a CDN and starts it
  inline, so that one page gets :data:`DOCS_CSP` instead;
- a path or query string holding a control character (``%00`` first of all,
  which PostgreSQL cannot store or compare) is answered 422 with the API's error
  body before any route runs, so no such text ever reaches a store query.

:func:`request_is_https` tells whether the browser reached us over HTTPS,
directly or through a trusted reverse proxy that says so in
``X-Forwarded-Proto``; the session cookie is ``Secure`` then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Policy of every page and answer: no inline script, nothing from elsewhere, never framed.
#: Inline styles stay allowed: the charts size bars and legends through style attributes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: Policy of the API docs at ``/docs`` (Swagger UI starts from an inline script) and
#: ``/redoc`` (ReDoc injects its styles and runs its search in a blob worker); both load
#: their assets from this server only (vendored under ``/static/vendor``).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

# C0 controls and DEL, percent-decoded: no identifier, date or model name holds one.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


def _headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


_PAGE_HEADERS = _headers(CSP)
_DOCS_HEADERS = _headers(DOCS_CSP)


def has_control_characters(raw: bytes) -> bool:
    """Whether percent-encoded URL text decodes to a control character.

    Examples
    --------
    >>> has_control_characters(b"model=%00"), has_control_characters(b"model=gbm&x=%20")
    (True, False)
    """
    return bool(_CONTROL.search(unquote_to_bytes(raw.replace(b"+", b" "))))


class HardeningMiddleware:
    """ASGI middleware: security headers on every response, 422 for control characters in URLs.

    Parameters
    ----------
    app : ASGI app
        The application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        extra = _DOCS_HEADERS if path in _DOCS_PATHS else _PAGE_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in present),
                ]
            await send(message)

        raw_path = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        if has_control_characters(raw_path) or has_control_characters(
            scope.get("query_string", b"")
        ):
            await _refuse(send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send) -> None:
    """Answer 422 with the API's validation error body."""
    body = json.dumps(
        {
            "error": "validation",
            "message": "the URL holds a control character (such as %00); remove it",
            "detail": [{"loc": ["query"], "msg": "control characters are not allowed"}],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def parse_proxies(text: str) -> frozenset[str]:
    """Addresses of trusted reverse proxies from a comma- or space-separated list."""
    return frozenset(p for p in re.split(r"[,\s]+", text.strip()) if p)


def request_is_https(request: Request, trusted_proxies: Iterable[str] = ()) -> bool:
    """Whether the client reached the app over HTTPS.

    True when the connection itself is HTTPS, or when the peer is one of
    ``trusted_proxies`` and its ``X-Forwarded-Proto`` says ``https`` (a header
    from anyone else is ignored: any client can send it).
    """
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client is not None else None
    if peer is None or peer not in set(trusted_proxies):
        return False
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.split(",", 1)[0].strip().lower() == "https"
