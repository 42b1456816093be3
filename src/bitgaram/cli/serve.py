"""``bitgaram serve``: the web API and dashboard; ``bitgaram users``: API users and tokens."""

from __future__ import annotations

import os
import secrets
import signal
from pathlib import Path
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
    from bitgaram.store.base import Store

console = Console()
users_app = typer.Typer(help="Users and API tokens of the web API.", no_args_is_help=True)
app.add_typer(users_app, name="users")
tokens_app = typer.Typer(help="API tokens: list and revoke.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

#: Where ``serve`` writes the first admin's password and token when not on a terminal.
DEFAULT_SECRETS_FILE = Path("bitgaram-admin.secret")

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Store URL or DuckDB file (default: BITGARAM_DATABASE_URL)."),
]


@app.command("serve")
def serve(
    store: StoreOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    secrets_file: Annotated[
        Path,
        typer.Option(help="Where the first admin's secrets go when not run on a terminal."),
    ] = DEFAULT_SECRETS_FILE,
) -> None:
    """Serve the API (/docs) and the dashboard (/dashboard) on the embedded store.

    Every site of the store is served (BITGARAM_SITE_ID limits it to one);
    requests name a site with ?site_id= when there are several.
    On the first start (no users yet) an operator ``admin`` is created. On a
    terminal its password and API token are shown once; otherwise (a service,
    whose output ends up in logs) they are written to ``--secrets-file``
    (readable by the owner only) and only that file's name is printed.
    """
    from bitgaram.api import Settings, create_app
    from bitgaram.api.app import token_store_for
    from bitgaram.config import Settings as ProcessSettings
    from bitgaram.store import open_store

    settings = Settings.from_env()
    opened = open_store(store, ProcessSettings.from_env())
    try:
        tokens = token_store_for(opened, settings)
        ensure_admin(tokens, console, secrets_file)
        web = create_app(settings, opened, tokens)
        url = f"http://{host}:{port}"
        console.print(
            f"bitgaram dashboard: [link={url}/dashboard]{url}/dashboard[/]  API: {url}/docs"
        )
        # SIGTERM: open requests get a few seconds, then the app's writer is closed.
        config = uvicorn.Config(
            web, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5
        )
        _Server(config).run()
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


def ensure_admin(
    tokens: TokenStore, out: Console, secrets_file: Path = DEFAULT_SECRETS_FILE
) -> Path | None:
    """Create the operator ``admin`` when there is no user yet and hand over its secrets once.

    On a terminal they are printed; otherwise they go to ``secrets_file``
    (created with mode 0600, never overwritten) so that service logs never
    hold them. Returns that file, or None.
    """
    if tokens.list_users():
        return None
    password = secrets.token_urlsafe(12)
    tokens.add_user("admin", "operator", password=password)
    token = tokens.issue_token("admin")
    out.print("[bold]First start:[/] created operator [bold]admin[/]")
    if out.is_terminal:
        out.print(f"  password:  {password}", soft_wrap=True)
        out.print(f"  API token: {token}", soft_wrap=True)
        return None
    write_secret_file(secrets_file, f"user: admin\npassword: {password}\napi_token: {token}\n")
    out.print(f"  its password and API token are in {secrets_file} (owner-only)", soft_wrap=True)
    return secrets_file


def write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (mode 0600).

    Raises
    ------
    ConfigError
        If the file exists already (a secret is never overwritten).
    """
    from bitgaram.errors import ConfigError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"{path} exists: move it away or pass --secrets-file") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@demo_step("open the dashboard", order=95)
def _dashboard(ctx: DemoContext) -> None:
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for

    store = ctx.require_store()
    ensure_admin(
        token_store_for(store, Settings.from_env()),
        ctx.console,
        ctx.workdir / DEFAULT_SECRETS_FILE.name,
    )
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
        typer.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
        if password
        else None
    )
    if all_sites and (tenant is not None or site is not None):
        raise ConfigError("--all-sites is for users without --tenant or --site")
    if secret is not None:
        check_password(secret, name)
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


def _token_store(store: str | None) -> tuple[TokenStore, Store]:
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for
    from bitgaram.config import Settings as ProcessSettings
    from bitgaram.store import open_store

    opened = open_store(store, ProcessSettings.from_env())
    return token_store_for(opened, Settings.from_env()), opened


@users_app.command("delete")
def delete_user(
    name: Annotated[str, typer.Argument(help="User name.")],
    store: StoreOption = None,
) -> None:
    """Delete a user; every token it holds stops working at once (a running server within 1 s)."""
    tokens, opened = _token_store(store)
    try:
        revoked = tokens.delete_user(name)
    finally:
        opened.close()
    console.print(f"deleted user [bold]{name}[/]; {revoked} token(s) revoked")


@users_app.command("change")
def change_user(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="operator, tenant_manager or viewer.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant id the user is limited to.")] = None,
    store: StoreOption = None,
) -> None:
    """Change a user's role and tenant; its tokens are revoked (issue a new one with tokens)."""
    tokens, opened = _token_store(store)
    try:
        user = tokens.change_user(name, role, tenant)
    finally:
        opened.close()
    console.print(
        f"user [bold]{user.name}[/] is now {user.role.value} (tenant {user.tenant_id or 'all'});"
        " its tokens were revoked"
    )


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
    store: StoreOption = None,
) -> None:
    """List tokens (id, user, label, created, expires, state); secrets are never shown."""
    tokens, opened = _token_store(store)
    try:
        rows = tokens.list_tokens(user)
    finally:
        opened.close()
    for t in rows:
        state = "revoked" if t.revoked else "active"
        console.print(
            f"{t.token_id}\t{t.user}\t{t.label}\t{t.created_at}\t{t.expires_at or '-'}\t{state}"
        )


@tokens_app.command("issue")
def issue_token(
    user: Annotated[str, typer.Argument(help="User name.")],
    label: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    store: StoreOption = None,
) -> None:
    """Issue a new API token for a user and print it (shown only once)."""
    tokens, opened = _token_store(store)
    try:
        token = tokens.issue_token(user, label=label)
    finally:
        opened.close()
    console.print(f"API token: {token}", soft_wrap=True)


@tokens_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="Token id (see 'bitgaram tokens list').")],
    store: StoreOption = None,
) -> None:
    """Revoke one token; it stops working at once (a running server within 1 s)."""
    tokens, opened = _token_store(store)
    try:
        tokens.revoke(token_id)
    finally:
        opened.close()
    console.print(f"revoked token {token_id}")
