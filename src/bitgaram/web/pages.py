"""Routes of the dashboard pages and the static files they load.

The pages are static HTML; their script reads the JSON API with the session
cookie. The dashboard page itself checks the cookie on the server so a
visitor without a session lands on the login form.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bitgaram.errors import BitgaramError

#: Folder of the dashboard's HTML, scripts, styles and vendored chart library.
STATIC_DIR = Path(__file__).parent / "static"

_NO_STORE = {"Cache-Control": "no-store"}

#: The API docs' assets, vendored under ``static/vendor`` (swagger-ui-dist 5.35.0 and
#: redoc 2.5.4 from the npm registry, with their licences), so ``/docs`` and ``/redoc``
#: work on a machine without internet and no page asks a CDN for anything.
_SWAGGER = "/static/vendor/swagger-ui/"
_REDOC = "/static/vendor/redoc/redoc.standalone.js"
_FAVICON = "/static/favicon.svg"


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
    """Serve the dashboard (``/dashboard``), the login page, offline API docs and ``/static``.

    The app must be built with ``docs_url=None, redoc_url=None``: ``/docs`` (Swagger UI)
    and ``/redoc`` (ReDoc) are served here from the vendored assets.
    """

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

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=_SWAGGER + "swagger-ui-bundle.js",
            swagger_css_url=_SWAGGER + "swagger-ui.css",
            swagger_favicon_url=_FAVICON,
            # no badge from the public validator service: nothing leaves the machine
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            redoc_js_url=_REDOC,
            redoc_favicon_url=_FAVICON,
            with_google_fonts=False,
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
