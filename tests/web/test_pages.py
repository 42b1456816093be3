"""The dashboard pages: served by the app, offline (no CDN), bilingual, behind the login."""

from __future__ import annotations

import re

import pytest
from api_park import ApiPark

from bitgaram.web.pages import STATIC_DIR

_PAGES = ["login.html", "dashboard.html"]


def _i18n_tables() -> dict[str, set[str]]:
    text = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    tables = {}
    for lang in ("ko", "en"):
        block = re.search(rf"\n    {lang}: {{(.*?)\n    }}", text, re.S)
        assert block is not None, lang
        tables[lang] = set(re.findall(r'"([A-Za-z0-9_.]+)":', block.group(1)))
    return tables


def test_both_languages_have_the_same_strings() -> None:
    tables = _i18n_tables()
    assert tables["ko"] == tables["en"]
    assert len(tables["ko"]) > 30


def test_every_key_used_is_translated() -> None:
    known = _i18n_tables()["en"]
    used: set[str] = set()
    for page in _PAGES:
        used |= set(re.findall(r'data-i18n="([^"]+)"', (STATIC_DIR / page).read_text("utf-8")))
    script = (STATIC_DIR / "app.js").read_text("utf-8")
    used |= set(re.findall(r'(?<![\w.])t\("([a-z0-9_.]+)"[,)]', script))
    # keys built from API values and page state
    used |= {f"series.{n}" for n in ("net", "load", "pv", "battery", "forecast", "soc")}
    used |= {f"ind.{n}" for n in ("energy_intensity", "load_factor", "re_share", "peak")}
    used |= {f"role.{r}" for r in ("operator", "tenant_manager", "viewer")}
    used |= {f"severity.{s}" for s in ("critical", "warning")}
    used |= {f"alerts.{k}" for k in ("demand_over_target", "data_gap", "quarantine")}
    used |= {f"period.{k}" for k in ("day", "week", "month", "year", "custom")}
    used |= {f"step.{k}" for k in ("15min", "1h", "1D")}
    used |= {f"chart.energy_{k}" for k in ("hour", "day", "month")}
    used |= {f"chart.export_{k}" for k in ("csv", "json")}
    used |= {f"tenants.sort_{k}" for k in ("energy", "peak", "name")}
    used |= {f"bench.better.{k}" for k in ("lower", "higher")}
    used |= {f"bench.group.{k}" for k in ("sector", "park")}
    assert used <= known, used - known


@pytest.mark.parametrize("page", [*_PAGES, "app.js", "i18n.js", "app.css"])
def test_no_external_resources(page: str) -> None:
    text = (STATIC_DIR / page).read_text("utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "cdn" not in text.lower()
    assert 'fetch("http' not in text


def test_chart_library_is_vendored_with_its_licence() -> None:
    vendor = STATIC_DIR / "vendor" / "uplot"
    assert (vendor / "uPlot.iife.min.js").stat().st_size > 10_000
    assert "MIT License" in (vendor / "LICENSE").read_text("utf-8")


def test_dashboard_needs_a_session(api_park: ApiPark) -> None:
    client = api_park.client()
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    client.cookies.set("bitgaram_session", "bg_0_forged")
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_dashboard_after_form_login(api_park: ApiPark) -> None:
    client = api_park.client()
    client.post("/api/v1/auth/login", data={"username": "acme", "password": "pw-acme"})
    page = client.get("/dashboard", follow_redirects=False)
    assert page.status_code == 200
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page.text
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    ["/static/app.js", "/static/i18n.js", "/static/app.css", "/static/vendor/uplot/uPlot.min.css"],
)
def test_static_files_are_served(api_park: ApiPark, path: str) -> None:
    assert api_park.client().get(path).status_code == 200


def test_root_and_login_page(api_park: ApiPark) -> None:
    client = api_park.client()
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    login = client.get("/login")
    assert login.status_code == 200 and 'action="/api/v1/auth/login"' in login.text
    assert 'name="username"' in login.text and 'name="password"' in login.text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_outside(api_park: ApiPark, path: str) -> None:
    page = api_park.client().get(path)
    assert page.status_code == 200
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    for asset in re.findall(r"""(?:src|href)=["']?(/static/[^"' >]+)""", page.text):
        assert api_park.client().get(asset).status_code == 200, asset


def test_vendored_docs_assets_have_their_licences() -> None:
    vendor = STATIC_DIR / "vendor"
    assert (vendor / "swagger-ui" / "swagger-ui-bundle.js").stat().st_size > 1_000_000
    assert "Apache License" in (vendor / "swagger-ui" / "LICENSE").read_text("utf-8")
    assert (vendor / "redoc" / "redoc.standalone.js").stat().st_size > 500_000
    assert "MIT" in (vendor / "redoc" / "LICENSE").read_text("utf-8")
    assert "cdn.redoc.ly" not in (vendor / "redoc" / "redoc.standalone.js").read_text("utf-8")


def test_font_stack_names_korean_fonts() -> None:
    css = (STATIC_DIR / "app.css").read_text("utf-8")
    for font in ("Noto Sans KR", "Noto Sans CJK KR", "Apple SD Gothic Neo", "Malgun Gothic"):
        assert font in css
