"""The dashboard in headless Chromium (Debian's package, driven by Playwright).

Logs in through the form as the park operator and as a tenant manager, opens
each page, checks that the charts rendered with data and in both languages,
and saves screenshots to ``build/screenshots`` (or ``$BITGARAM_SCREENSHOT_DIR``)
for CI to keep as artefacts. When ``/usr/bin/chromium`` is absent the setup
installs it with apt-get (as root); if that is impossible the tests are
skipped, or fail under CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from api_park import ApiPark
from tests_support import in_ci_env

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "BITGARAM_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "build" / "screenshots"
    )
)


def _ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = "Debian's chromium is not installed"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"],
                check=True,
                env=env,
                timeout=900,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            reason = f"{reason} and apt-get failed: {exc}"
    if not CHROMIUM.exists():
        if in_ci_env():
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def base_url(api_park: ApiPark) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(api_park.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield instance
        instance.close()


def _login(browser: Any, base_url: str, user: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base_url}/dashboard")
    assert page.url.endswith("/login")
    page.fill("#username", user)
    page.fill("#password", f"pw-{user}")
    page.click("#login-submit")
    page.wait_for_url(f"{base_url}/dashboard")
    page.wait_for_selector("#view[data-ready]", timeout=30_000)
    return page


def _points(page: Any, selector: str) -> int:
    page.wait_for_selector(selector)
    assert page.locator(f"{selector} canvas").count() >= 1, f"{selector}: no chart drawn"
    return int(page.get_attribute(selector, "data-points") or 0)


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_operator_sees_park_and_tenant_pages(browser: Any, base_url: str) -> None:
    page = _login(browser, base_url, "operator")
    assert page.get_attribute("#view", "data-ready") == "1"
    assert _points(page, "#chart-park-power") > 100
    assert _points(page, "#chart-park-soc") > 50
    assert page.locator("#chart-park-tenants .row").count() == 6
    assert _points(page, "#chart-park-schedule") == 3 * 96  # three batteries, a day at 15 min
    assert page.locator("#alerts li").count() >= 1
    assert "단지 현황" in page.inner_text("h1")
    _shot(page, "operator-park-ko")
    page.click("#lang-switch")
    page.wait_for_selector("#view[data-ready='1'] #chart-park-power canvas")
    assert "Park overview" in page.inner_text("h1")
    _shot(page, "operator-park-en")
    assert page.locator("#nav a").count() == 7  # park + six tenants
    page.click("#nav a[href='#/tenant/borealis']")
    page.wait_for_selector("#chart-tenant-power canvas")
    assert _points(page, "#chart-tenant-power") > 100
    _shot(page, "operator-tenant-borealis")
    page.close()


def test_tenant_sees_only_its_own_page(browser: Any, base_url: str) -> None:
    page = _login(browser, base_url, "acme")
    assert page.get_attribute("#view", "data-ready") == "1"
    assert page.locator("#nav a").count() == 1  # no park overview, no other tenant
    assert _points(page, "#chart-tenant-power") > 100
    assert page.locator("#chart-tenant-benchmark .row").count() == 4
    assert page.locator("#chart-tenant-re100 .row").count() == 1
    assert page.locator("#tenant-bills .card").count() >= 1
    assert "KRW" in page.inner_text("#tenant-bills")
    assert _points(page, "#chart-tenant-schedule") == 96  # its own battery only
    body = page.inner_text("body")
    for other in ("Borealis", "Cygnus", "Deltafoods", "Ember", "Fjord"):
        assert other not in body
    _shot(page, "tenant-acme")
    page.goto(f"{base_url}/dashboard#/tenant/borealis")
    page.reload()
    page.wait_for_selector("#view[data-ready]")
    assert page.get_attribute("#view", "data-ready") == "error"
    assert page.locator("#chart-tenant-power").count() == 0
    page.close()


def test_logout_returns_to_login(browser: Any, base_url: str) -> None:
    page = _login(browser, base_url, "acme")
    page.click("#logout")
    page.wait_for_url(f"{base_url}/login")
    page.goto(f"{base_url}/dashboard")
    assert page.url.endswith("/login")
    page.close()
