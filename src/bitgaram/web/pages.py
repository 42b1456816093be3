"""Routes of the dashboard pages and the static files they load.

The pages are static HTML; their script reads the JSON API with the session
cookie. The dashboard page itself checks the cookie on the server so a
visitor without a session lands on the login form.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bitgaram.errors import BitgaramError

#: Folder of the dashboard's HTML, scripts, styles and vendored chart library.
STATIC_DIR = Path(__file__).parent / "static"

_NO_STORE = {"Cache-Control": "no-store"}


def _signed_in(request: Request) -> bool:
    settings = request.app.state.settings
    token = request.cookies.get(settings.session_cookie)
    if not token:
        return False
    address = request.client.host if request.client is not None else "unknown"
    # The API installs its rate-limited check (a cookie guesser is limited like
    # any token guesser); without one, the token store's own check.
    check = getattr(request.app.state, "check_token", None)
    try:
        if check is not None:
            check(token, address)
        else:
            request.app.state.tokens.authenticate(token)
    except BitgaramError:
        return False
    return True


def install_web(app: FastAPI) -> None:
    """Serve the dashboard (``/dashboard``), the login page and ``/static`` on ``app``."""

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/dashboard", status_code=307)

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return FileResponse(STATIC_DIR / "login.html", headers=_NO_STORE)

    @app.get("/dashboard", include_in_schema=False)
    def dashboard(request: Request) -> Response:
        if not _signed_in(request):
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC_DIR / "dashboard.html", headers=_NO_STORE)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
