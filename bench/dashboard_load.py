"""Load time of the dashboard's park overview in headless Chromium, 1,000 tenants vs 5.

Builds the parks of the browser tests (``tests/web/parks.py``): the 1,000-tenant
synthetic park (``bitgaram synth``, 62 days of hourly data) and, as the reference
measured in the same run, the five-building CityLearn sample park. Each is served by
uvicorn on 127.0.0.1 (DuckDB in memory); Chromium (``/usr/bin/chromium``) logs in as
the operator once, then opens the overview ``--repeats`` times, each a fresh page
load: the time is from navigation start to the page marking itself ready (every
chart, card and table drawn), read from the browser's ``performance.now()``.

Two server settings: ``cached`` (the default 10 s view cache: what repeated views
cost) and ``uncached`` (``view_cache_seconds=0``: every request computed).

    .venv/bin/python bench/dashboard_load.py --repeats 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))

from parks import PASSWORD, served

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def measure(name: str, cache_s: float, repeats: int, browser: object) -> list[float]:
    """Load times [ms] of the operator's overview of park ``name``."""
    gen = served(name, view_cache_seconds=cache_s)
    park = next(gen)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
        page.goto(f"{park.url}/login")
        page.fill("#username", "operator")
        page.fill("#password", PASSWORD.format("operator"))
        page.click("#login-submit")
        page.wait_for_selector("#view[data-ready='1']", timeout=120_000)
        times = []
        for _ in range(repeats):
            page.goto(f"{park.url}/dashboard?n={len(times)}#/")
            page.wait_for_selector("#view[data-ready='1']", timeout=120_000)
            times.append(float(page.evaluate("performance.now()")))
        page.close()
        return times
    finally:
        gen.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="Page loads per park.")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        print("| park | server cache | median [ms] | p95 [ms] | ratio to reference (median) |")
        print("| --- | --- | ---: | ---: | ---: |")
        for label, cache_s in (("cached", 10.0), ("uncached", 0.0)):
            ref = measure("citylearn", cache_s, args.repeats, browser)
            big = measure("synth", cache_s, args.repeats, browser)
            for name, times in (
                ("CityLearn, 5 tenants (reference)", ref),
                ("synth, 1,000 tenants", big),
            ):
                med, p95 = float(np.median(times)), float(np.percentile(times, 95))
                ratio = med / float(np.median(ref))
                print(f"| {name} | {label} | {med:.0f} | {p95:.0f} | {ratio:.2f} |")
        browser.close()


if __name__ == "__main__":
    main()
