"""``bitgaram serve``: the web API and dashboard; ``bitgaram users``: API users and tokens."""

from __future__ import annotations

import secrets
import signal
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn
from rich.console import Console

from bitgaram.cli import app
from bitgaram.cli.demo import DemoContext, demo_step
from bitgaram.cli.options import SiteOption, load_cli_site

if TYPE_CHECKING:
    from bitgaram.api.auth import TokenStore

console = Console()
users_app = typer.Typer(help="Users and API tokens of the web API.", no_args_is_help=True)
app.add_typer(users_app, name="users")

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Store URL or DuckDB file (default: BITGARAM_DATABASE_URL)."),
]


@app.command("serve")
def serve(
    store: StoreOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the API (/docs) and the dashboard (/dashboard) on the embedded store.

    Every site of the store is served (BITGARAM_SITE_ID limits it to one);
    requests name a site with ?site_id= when there are several.
    On the first start (no users yet) an operator ``admin`` is created and its
    password and API token are printed once.
    """
    from bitgaram.api import Settings, create_app
    from bitgaram.api.app import token_store_for
    from bitgaram.config import Settings as ProcessSettings
    from bitgaram.store import open_store

    settings = Settings.from_env()
    opened = open_store(store, ProcessSettings.from_env())
    try:
        tokens = token_store_for(opened, settings)
        ensure_admin(tokens, console)
        web = create_app(settings, opened, tokens)
        url = f"http://{host}:{port}"
        console.print(
            f"bitgaram dashboard: [link={url}/dashboard]{url}/dashboard[/]  API: {url}/docs"
        )
        _Server(uvicorn.Config(web, host=host, port=port, log_level="warning")).run()
        console.print("stopped")
    finally:
        opened.close()


class _Server(uvicorn.Server):
    """uvicorn's server, stopping gracefully on SIGTERM with exit code 0.

    uvicorn re-raises a captured signal after its graceful shutdown, so a
    service manager's ordinary stop (SIGTERM) would end the process as killed.
    SIGTERM is a normal stop here; Ctrl-C (SIGINT) still ends as aborted (130).
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if sig == signal.SIGTERM and isinstance(captured, list):
            captured[:] = [s for s in captured if s != signal.SIGTERM]


def ensure_admin(tokens: TokenStore, out: Console) -> None:
    """Create the operator ``admin`` when there is no user yet; print its secrets once."""
    if tokens.list_users():
        return
    password = secrets.token_urlsafe(12)
    tokens.add_user("admin", "operator", password=password)
    token = tokens.issue_token("admin")
    out.print("[bold]First start:[/] created operator [bold]admin[/]")
    out.print(f"  password:  {password}", soft_wrap=True)
    out.print(f"  API token: {token}", soft_wrap=True)


@demo_step("open the dashboard", order=95)
def _dashboard(ctx: DemoContext) -> None:
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for

    store = ctx.require_store()
    ensure_admin(token_store_for(store, Settings.from_env()), ctx.console)
    ctx.console.print(f"Serve it with: bitgaram serve --store {store.url}", soft_wrap=True)
    ctx.console.print(
        "then open [bold]http://127.0.0.1:8000/dashboard[/] (API docs: /docs)", soft_wrap=True
    )


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="User name (also the login name).")],
    role: Annotated[str, typer.Option(help="operator, tenant_manager or viewer.")] = "viewer",
    tenant: Annotated[str | None, typer.Option(help="Tenant id the user is limited to.")] = None,
    site: SiteOption = None,
    all_sites: Annotated[
        bool,
        typer.Option(
            "--all-sites", help="Operators and park-wide viewers only: see every site served."
        ),
    ] = False,
    password: Annotated[
        bool, typer.Option("--password/--no-password", help="Prompt for a browser password.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Create a user bound to one site and print an API token for it (shown only once).

    The user sees the site named by --site (the only stored site by default);
    a user without --tenant may instead see every site (--all-sites).
    """
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for
    from bitgaram.config import Settings as ProcessSettings
    from bitgaram.errors import ConfigError
    from bitgaram.store import open_store

    secret = (
        typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )
    if all_sites and (tenant is not None or site is not None):
        raise ConfigError("--all-sites is for users without --tenant or --site")
    with open_store(store, ProcessSettings.from_env()) as opened:
        site_id: str | None = None
        if not all_sites:
            bound = load_cli_site(opened, site or Settings.from_env().site_id)
            site_id = bound.site.id
            if tenant is not None and tenant not in {t.id for t in bound.tenants}:
                raise ConfigError(f"site {site_id!r} has no tenant {tenant!r}")
        tokens = token_store_for(opened, Settings.from_env())
        user = tokens.add_user(name, role, tenant, password=secret, site_id=site_id)
        token = tokens.issue_token(name)
    console.print(
        f"user [bold]{user.name}[/] ({user.role.value}, site {user.site_id or 'all'}, "
        f"tenant {user.tenant_id or 'all'})"
    )
    console.print(f"API token: {token}", soft_wrap=True)


@users_app.command("list")
def list_users(store: StoreOption = None) -> None:
    """List users with their roles, sites and tenants."""
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for
    from bitgaram.config import Settings as ProcessSettings
    from bitgaram.store import open_store

    with open_store(store, ProcessSettings.from_env()) as opened:
        users = token_store_for(opened, Settings.from_env()).list_users()
    for user in users:
        console.print(
            f"{user.name}\t{user.role.value}\t{user.site_id or '*'}\t{user.tenant_id or '-'}"
        )
