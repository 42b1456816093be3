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


def test_tokens_list_revoke_and_users_delete(tmp_path: Path) -> None:
    path = str(tmp_path / "park.duckdb")
    with open_store(path) as store:
        store.save_site(synthetic_park(n_tenants=2, days=1).site)
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "ops", "--role", "operator", "--store", path])
    token = added.output.split("API token:")[1].split()[0]
    _, token_id, secret = token.split("_", 2)  # the secret may hold "_" itself
    listed = runner.invoke(app, ["tokens", "list", "--store", path])
    assert listed.exit_code == 0 and token_id in listed.output and "active" in listed.output
    assert secret not in listed.output  # never the secret
    revoked = runner.invoke(app, ["tokens", "revoke", token_id, "--store", path])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in runner.invoke(app, ["tokens", "list", "--store", path]).output
    unknown = runner.invoke(app, ["tokens", "revoke", "nope", "--store", path])
    assert unknown.exit_code != 0
    second = runner.invoke(app, ["tokens", "issue", "ops", "--store", path])
    fresh = second.output.split("API token:")[1].split()[0]
    deleted = runner.invoke(app, ["users", "delete", "ops", "--store", path])
    assert deleted.exit_code == 0 and "1 token(s) revoked" in deleted.output
    assert "ops" not in runner.invoke(app, ["users", "list", "--store", path]).output

    from fastapi.testclient import TestClient

    store = open_store(path)
    try:
        client = TestClient(create_app(Settings(), store))
        for old in (token, fresh):
            me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"})
            assert me.status_code == 401
    finally:
        store.close()


def test_first_admin_secrets_never_reach_a_log(tmp_path: Path) -> None:
    import stat

    from rich.console import Console

    from bitgaram.api.auth import connect_tokens

    tokens = connect_tokens(f"duckdb:///{tmp_path / 'users.duckdb'}")
    tokens.migrate()
    log = Console(file=__import__("io").StringIO(), force_terminal=False)
    secret_file = tmp_path / "admin.secret"
    assert _serve.ensure_admin(tokens, log, secret_file) == secret_file
    printed = log.file.getvalue()  # type: ignore[attr-defined]
    text = secret_file.read_text()
    password = text.split("password: ")[1].split()[0]
    assert password not in printed and "api_token: bg_" in text
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert _serve.ensure_admin(tokens, log, secret_file) is None  # only on the first start
