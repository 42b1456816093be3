"""``bitgaram users``: users and tokens created from the command line work against the API."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bitgaram.api import Settings, create_app
from bitgaram.api.testing import synthetic_park
from bitgaram.cli import app
from bitgaram.cli import serve as _serve  # registers `users` and `serve` on the app
from bitgaram.store import open_store


def test_users_add_issues_a_working_token(tmp_path: Path) -> None:
    path = str(tmp_path / "park.duckdb")
    with open_store(path) as store:
        store.save_site(synthetic_park(n_tenants=2, days=1).site)
    assert _serve.users_app is not None
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["users", "add", "ops", "--role", "tenant_manager", "--tenant", "acme", "--store", path],
    )
    assert added.exit_code == 0, added.output
    token = added.output.split("API token:")[1].split()[0]
    listed = runner.invoke(app, ["users", "list", "--store", path])
    assert "ops" in listed.output and "tenant_manager" in listed.output
    unknown = runner.invoke(
        app, ["users", "add", "x", "--role", "tenant_manager", "--tenant", "nope", "--store", path]
    )
    assert unknown.exit_code != 0

    from fastapi.testclient import TestClient

    store = open_store(path)
    try:
        client = TestClient(create_app(Settings(), store))
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["tenant_id"] == "acme"
    finally:
        store.close()


def test_users_are_bound_to_the_site_they_are_added_for(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bitgaram.api.testing import relabel

    path = str(tmp_path / "parks.duckdb")
    park = synthetic_park(n_tenants=2, days=1)
    with open_store(path) as store:
        store.save_site(park.site)
        store.save_site(relabel(park, "other", "o-").site)
    runner = CliRunner()
    base = ["users", "add", "--role", "tenant_manager", "--tenant", "acme", "--store", path]
    unnamed = runner.invoke(app, [*base[:2], "u1", *base[2:]])
    assert unnamed.exit_code != 0 and "several sites" in str(unnamed.exception)
    added = runner.invoke(app, [*base[:2], "u2", *base[2:], "--site", "other"])
    assert added.exit_code == 0, added.output
    assert "site other" in added.output
    token = added.output.split("API token:")[1].split()[0]
    listed = runner.invoke(app, ["users", "list", "--store", path])
    assert listed.output.split() == ["u2", "tenant_manager", "other", "acme"]
    store = open_store(path)
    try:
        client = TestClient(create_app(Settings(), store))
        client.headers["Authorization"] = f"Bearer {token}"
        assert client.get("/api/v1/auth/me").json()["site_id"] == "other"
        names = [t["name"] for t in client.get("/api/v1/tenants").json()["items"]]
        assert names == ["Acme Co. (other)"]
        assert client.get("/api/v1/tenants", params={"site_id": "testpark"}).status_code == 404
    finally:
        store.close()
