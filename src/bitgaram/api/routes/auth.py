"""``/api/v1/auth``: browser login (HttpOnly session cookie), logout, current user."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from bitgaram.api.deps import PrincipalDep, SettingsDep, TokensDep
from bitgaram.api.errors import NotAuthenticatedError
from bitgaram.api.hardening import parse_proxies, request_is_https
from bitgaram.api.ratelimit import FailureLimiter, client_key, login_failed, login_gate
from bitgaram.api.schemas.auth import LoginIn, MePublic
from bitgaram.errors import DataError

router = APIRouter(prefix="/auth", tags=["auth"])

_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginIn.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginIn.model_json_schema()},
        },
    }
}


async def _read_login(request: Request) -> tuple[LoginIn, bool]:
    """The login fields and whether they came from an HTML form."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_form = content_type == "application/x-www-form-urlencoded"
    try:
        if is_form:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
            data: object = {k: v[0] for k, v in fields.items() if k in ("username", "password")}
        else:
            data = json.loads(body or b"null")
        return LoginIn.model_validate(data), is_form
    except (ValueError, UnicodeDecodeError, ValidationError) as exc:
        raise DataError("login needs 'username' and 'password' (JSON or an HTML form)") from exc


@router.post(
    "/login",
    openapi_extra=_LOGIN_BODY,
    responses={
        303: {"description": "HTML form: redirect to the dashboard"},
        429: {"description": "Too many failed attempts from this client; see Retry-After"},
    },
)
async def login(request: Request, settings: SettingsDep, tokens: TokensDep) -> Response:
    """Check a user name and password; set an HttpOnly session cookie holding a new token.

    JSON bodies get the user back as JSON; HTML form posts are redirected to
    the dashboard (or back to the login page with ``?error=1``). After
    ``login_max_failures`` failed logins or token checks within
    ``login_window_seconds``, the client gets 429 with ``Retry-After``.
    """
    limiter: FailureLimiter = request.app.state.login_limiter
    client = client_key(request)
    credentials, is_form = await _read_login(request)
    login_gate(limiter, credentials.username, client)  # before the password hash
    ttl = timedelta(hours=settings.session_hours)
    try:
        token = tokens.login(credentials.username, credentials.password, ttl)
    except NotAuthenticatedError:
        login_failed(limiter, credentials.username, client)  # 429 once over the limit
        if is_form:
            return RedirectResponse("/login?error=1", status_code=303)
        raise
    principal = tokens.authenticate(token)
    response: Response
    if is_form:
        response = RedirectResponse("/dashboard", status_code=303)
    else:
        response = Response(MePublic.of(principal).model_dump_json(), media_type="application/json")
    response.set_cookie(
        settings.session_cookie,
        token,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        secure=settings.cookie_secure
        or request_is_https(request, parse_proxies(settings.trusted_proxies)),
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout", status_code=204)
def logout(
    request: Request, principal: PrincipalDep, settings: SettingsDep, tokens: TokensDep
) -> Response:
    """End the browser session: revoke the session cookie's token and clear the cookie.

    API tokens sent as ``Authorization: Bearer`` stay valid (revoke them with
    the CLI).
    """
    cookie = request.cookies.get(settings.session_cookie)
    if cookie:
        try:
            session = tokens.authenticate(cookie)
        except NotAuthenticatedError:
            session = None
        if session is not None and session.user == principal.user:
            tokens.revoke(session.token_id)
    response = Response(status_code=204)
    response.delete_cookie(settings.session_cookie, path="/")
    return response


@router.get("/me")
def me(principal: PrincipalDep) -> MePublic:
    """The authenticated caller: user, role and tenant."""
    return MePublic.of(principal)
