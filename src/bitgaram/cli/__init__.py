"""The ``bitgaram`` command line.

One Typer application; each capability registers its commands from its own
module in this package (``cli/store.py``, ``cli/forecast.py``, ...), added to
:data:`app` in :func:`_register`. Errors derived from
:class:`bitgaram.errors.BitgaramError` become a one-line message on stderr and
the error's exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from bitgaram.errors import BitgaramError

app = typer.Typer(
    name="bitgaram",
    help="bitgaram: AI energy platform for industrial parks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: Rich markup would swallow the bracketed units ([kW], [h]) of option help.
    rich_markup_mode=None,
)

err_console = Console(stderr=True)


def _register() -> None:
    """Attach every capability's commands to :data:`app`.

    Imports are local so that ``bitgaram --help`` stays fast and a missing
    optional piece fails only its own command.
    """
    # Each line adds one capability's commands; keep one line per module.
    from bitgaram.cli import account as _account  # noqa: F401
    from bitgaram.cli import bill as _bill  # noqa: F401
    from bitgaram.cli import citylearn as _citylearn  # noqa: F401
    from bitgaram.cli import collect as _collect  # noqa: F401
    from bitgaram.cli import control as _control  # noqa: F401
    from bitgaram.cli import demo as _demo  # noqa: F401
    from bitgaram.cli import devices as _devices  # noqa: F401
    from bitgaram.cli import fleet as _fleet  # noqa: F401
    from bitgaram.cli import forecast as _forecast  # noqa: F401
    from bitgaram.cli import importing as _importing  # noqa: F401
    from bitgaram.cli import park as _park  # noqa: F401
    from bitgaram.cli import peak as _peak  # noqa: F401
    from bitgaram.cli import serve as _serve  # noqa: F401
    from bitgaram.cli import service as _service  # noqa: F401
    from bitgaram.cli import simulate as _simulate  # noqa: F401
    from bitgaram.cli import store as _store  # noqa: F401
    from bitgaram.cli import synth as _synth  # noqa: F401
    from bitgaram.cli import verify as _verify  # noqa: F401


def _click_exceptions() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """``(usage/domain errors, exits)`` of click and of Typer's vendored click.

    Typer 0.2x ships its own click (``typer._click``, errors derived from
    ``typer.exceptions.TyperException``) and raises those, not click's; both
    are caught so a usage error never shows a traceback.
    """
    import click

    errors: list[type[Exception]] = [click.exceptions.ClickException]
    exits: list[type[Exception]] = [click.exceptions.Exit, typer.Exit]
    vendored = getattr(typer, "exceptions", None)
    base = getattr(vendored, "TyperException", None)
    if isinstance(base, type) and issubclass(base, Exception):
        errors.append(base)
    return tuple(errors), tuple(exits)


def usage_message(exc: Exception) -> str:
    """One line for a click/Typer usage error: the message and where to get help."""
    text = " ".join(str(getattr(exc, "format_message", lambda: str(exc))()).split())
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "bitgaram"
    if getattr(exc, "exit_code", 1) == USAGE_EXIT_CODE:
        return f"{text} (see `{path} --help`)"
    return text


#: Exit code of a usage error (unknown command, missing or bad option), as click uses.
USAGE_EXIT_CODE = 2


def _error_line(message: str) -> None:
    # soft_wrap: the message stays one line whatever the terminal width.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point of the ``bitgaram`` console script.

    Exit codes: 0 success, 2 usage error (one line on stderr), a
    :class:`~bitgaram.errors.BitgaramError`'s own code for domain errors, 130
    when aborted.
    """
    _register()
    click_errors, click_exits = _click_exceptions()
    try:
        app(standalone_mode=False)
    except BitgaramError as exc:
        _error_line(str(exc))
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except click_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as click does
            typer.echo(exc.format_message(), err=True)  # type: ignore[attr-defined]
        else:
            _error_line(usage_message(exc))
        sys.exit(getattr(exc, "exit_code", 1))
    except click_exits as exc:
        sys.exit(getattr(exc, "exit_code", 0))
