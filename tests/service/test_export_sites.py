"""`bitgaram store export` on a store with several sites: the site is named, or asked for."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.cli import service as _service_commands  # noqa: F401
from bitgaram.site import parse_site
from bitgaram.store import open_store


def _site(site_id: str, tenant: str) -> dict[str, object]:
    return {
        "site": {"id": site_id, "name": site_id.title(), "timezone": "Asia/Seoul"},
        "tenants": [{"id": tenant, "name": tenant.upper()}],
        "meters": [{"id": f"{site_id}-load", "tenant": tenant, "kind": "load", "unit": "kWh"}],
    }


def test_export_names_the_site_when_several_are_stored(tmp_path: Path) -> None:
    db = tmp_path / "two.duckdb"
    with open_store(str(db)) as store:
        store.save_site(parse_site(_site("north", "acme")))
        store.save_site(parse_site(_site("south", "acme")))
    runner = CliRunner()
    base = ["store", "export", "--tenant", "acme", "--store", str(db)]
    unnamed = runner.invoke(app, [*base, "--out", str(tmp_path / "x")])
    assert unnamed.exit_code != 0
    assert "north, south" in str(unnamed.exception) and "--site-id" in str(unnamed.exception)
    assert not (tmp_path / "x").exists()  # refused before writing anything
    named = runner.invoke(app, [*base, "--site-id", "south", "--out", str(tmp_path / "s")])
    assert named.exit_code == 0, named.output
    tenant = json.loads((tmp_path / "s" / "tenant.json").read_text(encoding="utf-8"))
    assert "south-load" in json.dumps(tenant) and "north-load" not in json.dumps(tenant)
