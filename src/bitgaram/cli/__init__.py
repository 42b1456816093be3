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

from bitgaram.errors import BitgaramError

app = typer.Typer(
    name="bitgaram",
    help="bitgaram: AI energy platform for industrial parks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    from bitgaram.cli import simulate as _simulate  # noqa: F401
    from bitgaram.cli import store as _store  # noqa: F401
    from bitgaram.cli import synth as _synth  # noqa: F401
    from bitgaram.cli import verify as _verify  # noqa: F401


def main() -> None:
    """Entry point of the ``bitgaram`` console script."""
    _register()
    try:
        app(standalone_mode=False)
    except BitgaramError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
