"""``bitgaram serve``: the web API and dashboard; ``bitgaram users``: API users and tokens."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bitgaram.cli import app
from bitgaram.cli.demo import DemoContext, demo_step

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

    On the first start (no users yet) an operator ``admin`` is created and its
    password and API token are printed once.
    """
    import uvicorn

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
        uvicorn.run(web, host=host, port=port, log_level="warning")
    finally:
        opened.close()


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


#: Shortest password ``users add`` accepts [characters] (NIST SP 800-63B asks for at least 8;
#: 12 keeps a browser password out of reach of an offline guess against a leaked hash).
MIN_PASSWORD_LENGTH = 12


def check_password(password: str, user: str) -> None:
    """Refuse a browser password that is too short or trivially guessable.

    Raises
    ------
    ConfigError
        Naming the rule that failed, so the user can pick another password.
    """
    from bitgaram.errors import ConfigError

    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"password too short: {len(password)} characters, at least "
            f"{MIN_PASSWORD_LENGTH} needed (a passphrase of a few words works well)"
        )
    if len(set(password)) < 4:
        raise ConfigError("password too simple: use at least 4 different characters")
    if user.lower() in password.lower():
        raise ConfigError("password must not contain the user name")


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="User name (also the login name).")],
    role: Annotated[str, typer.Option(help="operator, tenant_manager or viewer.")] = "viewer",
    tenant: Annotated[str | None, typer.Option(help="Tenant id the user is limited to.")] = None,
    password: Annotated[
        bool, typer.Option("--password/--no-password", help="Prompt for a browser password.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Create a user and print an API token for it (shown only once)."""
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for
    from bitgaram.config import Settings as ProcessSettings
    from bitgaram.errors import ConfigError
    from bitgaram.store import open_store

    secret = (
        typer.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
        if password
        else None
    )
    if secret is not None:
        check_password(secret, name)
    with open_store(store, ProcessSettings.from_env()) as opened:
        if tenant is not None:
            site = opened.load_site(Settings.from_env().site_id)
            if tenant not in {t.id for t in site.tenants}:
                raise ConfigError(f"site {site.site.id!r} has no tenant {tenant!r}")
        tokens = token_store_for(opened, Settings.from_env())
        user = tokens.add_user(name, role, tenant, password=secret)
        token = tokens.issue_token(name)
    console.print(
        f"user [bold]{user.name}[/] ({user.role.value}, tenant {user.tenant_id or 'all'})"
    )
    console.print(f"API token: {token}", soft_wrap=True)


@users_app.command("list")
def list_users(store: StoreOption = None) -> None:
    """List users with their roles and tenants."""
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for
    from bitgaram.config import Settings as ProcessSettings
    from bitgaram.store import open_store

    with open_store(store, ProcessSettings.from_env()) as opened:
        users = token_store_for(opened, Settings.from_env()).list_users()
    for user in users:
        console.print(f"{user.name}\t{user.role.value}\t{user.tenant_id or '-'}")
