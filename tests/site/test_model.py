"""The site model: valid files parse, bad fields are named with their file and path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bitgaram.errors import ConfigError
from bitgaram.site import BatteryAsset, MeterKind, Unit, load_site, parse_site

GOOD = """\
[site]
id = "cheomdan"
name = "Cheomdan industrial complex"
timezone = "Asia/Seoul"
latitude = 35.22
longitude = 126.84
tariff = { name = "kepco-industrial-b-high-a", option = "II", contract_kw = 2000 }

[[tenants]]
id = "acme"
name = "ACME Motors"

[[meters]]
id = "acme-load"
tenant = "acme"
kind = "load"
unit = "kWh"
resolution = "15min"

[[meters]]
id = "acme-pv"
tenant = "acme"
kind = "pv"
unit = "kW"

[[assets]]
type = "battery"
id = "acme-ess"
tenant = "acme"
capacity_kwh = 500
power_kw = 250
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_parses(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, GOOD))
    assert site.site.id == "cheomdan"
    assert site.meter("acme-load").unit is Unit.KWH
    assert site.meter("acme-load").resolution_seconds == 900
    assert site.meter("acme-pv").kind is MeterKind.PV
    assert [m.id for m in site.meters_of("acme")] == ["acme-load", "acme-pv"]
    (battery,) = site.assets
    assert isinstance(battery, BatteryAsset)
    assert battery.capacity_kwh == 500.0


def test_only_kwh_is_summed() -> None:
    assert [u for u in Unit if u.is_energy] == [Unit.KWH]


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('unit = "kWh"', 'unit = "MWh"', "meters[0].unit"),
        ('resolution = "15min"', 'resolution = "often"', "meters[0].resolution"),
        ("capacity_kwh = 500", "capacity_kwh = -5", "assets[0].battery.capacity_kwh"),
        ('timezone = "Asia/Seoul"', 'timezone = "Mars/Olympus"', "site.timezone"),
        ("latitude = 35.22", "latitude = 135.22", "site.latitude"),
        ('kind = "pv"', 'kind = "solar"', "meters[1].kind"),
        ('name = "ACME Motors"', 'name = "ACME Motors"\ncolour = "red"', "tenants[0].colour"),
    ],
)
def test_bad_field_is_named_with_file_and_path(
    tmp_path: Path, old: str, new: str, path: str
) -> None:
    assert old in GOOD
    file = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_site(file)
    message = str(caught.value)
    assert str(file) in message
    assert path in message


def test_cross_references_are_checked(tmp_path: Path) -> None:
    file = write(
        tmp_path, GOOD.replace('tenant = "acme"\nkind = "pv"', 'tenant = "nobody"\nkind = "pv"')
    )
    with pytest.raises(ConfigError, match="unknown tenant 'nobody'"):
        load_site(file)
    dup = GOOD.replace('id = "acme-pv"', 'id = "acme-load"')
    with pytest.raises(ConfigError, match="duplicate id 'acme-load'"):
        load_site(write(tmp_path, dup))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_site(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_site(write(tmp_path, "[site\nid = 1"))


def test_lookup_of_unknown_ids_raises(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="no meter 'ghost'"):
        site.meter("ghost")
    with pytest.raises(ConfigError, match="no tenant 'ghost'"):
        site.tenant("ghost")


def test_parse_site_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^api: site: Field required"):
        parse_site({}, source="api")


def test_sign_rules_allow_negative_prices_and_net_flows_but_not_load() -> None:
    from bitgaram.site.model import Meter, MeterKind, Unit

    def meter(kind: MeterKind, unit: Unit) -> Meter:
        return Meter(id="m", kind=kind, unit=unit)

    assert meter(MeterKind.PRICE, Unit.KRW_PER_KWH).allows_negative
    assert meter(MeterKind.GRID_NET, Unit.KWH).allows_negative
    assert meter(MeterKind.BATTERY, Unit.KWH).allows_negative
    assert not meter(MeterKind.LOAD, Unit.KWH).allows_negative
    assert not meter(MeterKind.PV, Unit.KWH).allows_negative
    assert not meter(MeterKind.CARBON_INTENSITY, Unit.KGCO2_PER_KWH).allows_negative


def test_the_service_and_collector_sections_may_share_the_site_file(tmp_path: Path) -> None:
    """`bitgaram init` takes the same file `bitgaram run` does; a typo elsewhere still fails."""
    shared = "\n[service]\ndrain_s = 5\n\n[service.api]\nport = 8080\n"
    shared += "\n[collect.mqtt]\nport = 1883\n"
    path = tmp_path / "park.toml"
    path.write_text(GOOD + shared, encoding="utf-8")
    assert load_site(path).site.id == parse_site(tomllib.loads(GOOD)).site.id
    path.write_text(GOOD + shared + "\n[servce]\nport = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="servce"):
        load_site(path)
