"""Site-level defaults: from the site file, else derived from its country; never Korean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bitgaram.errors import ConfigError, StoreError
from bitgaram.site import choose_site_id, load_site, parse_site
from bitgaram.site.choice import SiteChoiceError
from bitgaram.site.model import country_of_timezone

ROOT = Path(__file__).resolve().parents[2]


def _site(**info: object) -> dict[str, object]:
    return {
        "site": {"id": "s", "name": "S", **info},
        "tenants": [{"id": "t", "name": "T"}],
        "meters": [{"id": "t-load", "tenant": "t", "kind": "load", "unit": "kWh"}],
    }


def test_a_californian_site_gets_us_defaults_not_korean() -> None:
    info = parse_site(_site(timezone="America/Los_Angeles")).site
    assert info.country_code == "US"
    assert info.holiday_country == "US"
    assert info.currency_code == "USD"
    assert info.grid_factor == "us-grid"


def test_a_korean_site_gets_korean_defaults() -> None:
    info = load_site(ROOT / "data" / "industrial_park" / "site.toml").site
    assert (info.country_code, info.holiday_country, info.currency_code) == ("KR", "KR", "KRW")
    assert info.grid_factor == "kr-grid"


def test_the_site_file_overrides_what_the_timezone_implies() -> None:
    info = parse_site(
        _site(
            timezone="Asia/Seoul",
            country="JP",
            holidays="none",
            currency="USD",
            carbon={"factor": "kr-grid-2022"},
        )
    ).site
    assert info.country_code == "JP"
    assert info.holiday_country is None
    assert info.currency_code == "USD"
    assert info.grid_factor == "kr-grid-2022"


def test_a_site_of_no_country_is_refused_where_a_country_is_needed() -> None:
    info = parse_site(_site(timezone="UTC")).site
    assert info.country_code is None and info.holiday_country is None
    with pytest.raises(ConfigError, match="currency"):
        _ = info.currency_code
    with pytest.raises(ConfigError, match="grid emission factor"):
        _ = info.grid_factor


@pytest.mark.parametrize("bad", [{"country": "Korea"}, {"currency": "won"}])
def test_bad_codes_are_named(bad: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=f"site.{next(iter(bad))}"):
        parse_site(_site(timezone="Asia/Seoul", **bad))


def test_country_of_timezone() -> None:
    assert country_of_timezone("Europe/Berlin") == "DE"
    assert country_of_timezone("Etc/GMT+9") is None


def test_the_forecast_uses_the_sites_holidays(monkeypatch: pytest.MonkeyPatch) -> None:
    from bitgaram.forecast import service

    seen: list[str | None] = []
    real = service.LightGBMLoadForecaster

    def spy(*args: object, country: str | None = None, **kwargs: object) -> object:
        seen.append(country)
        return real(*args, country=country, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "LightGBMLoadForecaster", spy)
    index = pd.date_range("2024-06-01", periods=24 * 30, freq="h", tz="UTC")
    history = pd.DataFrame({"t-load": 10 + np.sin(np.arange(len(index)) / 24 * 2 * np.pi)}, index)
    for zone, expected in (("America/Los_Angeles", "US"), ("Asia/Seoul", "KR")):
        site = parse_site(_site(timezone=zone))
        service.forecast_site(site, history, horizon=6)
        assert seen[-1] == expected


def test_choose_site_id() -> None:
    assert choose_site_id(["a"], None) == "a"
    assert choose_site_id(["a", "b"], "b") == "b"
    with pytest.raises(SiteChoiceError, match=r"several sites \(a, b\): name one with --site ID"):
        choose_site_id(["b", "a"], None)
    with pytest.raises(SiteChoiceError, match=r"no site 'c'.*\(sites: a, b\)") as info:
        choose_site_id(["a", "b"], "c")
    assert info.value.unknown == "c" and info.value.site_ids == ("a", "b")
    with pytest.raises(StoreError, match="bitgaram init"):
        choose_site_id([], None)
