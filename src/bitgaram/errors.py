"""The exception tree of bitgaram.

Every failure a user can act on is raised as a subclass of :class:`BitgaramError`
with a message that says what was wrong and where (file, line, field). Nothing
in bitgaram returns ``False`` or ``None`` to signal failure. The CLI maps these
exceptions to a one-line message and a non-zero exit code; the web API maps
them to HTTP status codes in one handler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class BitgaramError(Exception):
    """Base class of every error bitgaram raises on purpose."""

    exit_code: int = 1


class ConfigError(BitgaramError):
    """A site file, tariff file or setting is missing or invalid."""

    exit_code = 2


class DataError(BitgaramError):
    """Input data cannot be used as given (bad file, column, value or format)."""

    exit_code = 3


class StoreError(BitgaramError):
    """The store cannot be opened, migrated, read or written."""

    exit_code = 4


class ForecastError(BitgaramError):
    """A forecaster cannot be fitted or cannot predict with the data given."""

    exit_code = 5


class SolveError(BitgaramError):
    """An optimisation problem is infeasible, unbounded or the solver failed."""

    exit_code = 6


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a field path: ``meters[0].unit`` (``(root)`` if empty).

    Examples
    --------
    >>> field_path(("versions", 0, "rates", "I", "demand"))
    'versions[0].rates.I.demand'
    """
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def validation_message(
    exc: ValidationError,
    source: str,
    *,
    prefix: str = "",
    name: Callable[[str], str] | None = None,
) -> str:
    """The one way bitgaram words a pydantic validation error: one line per bad field.

    Each line reads ``source: path.to.field: reason``, so a user sees which file
    (or variable) and which field to fix.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The error to word.
    source : str
        Where the data came from (a file path, ``<site>``); empty for none.
    prefix : str
        Path of the validated mapping inside its file (e.g. ``collect``).
    name : callable, optional
        Turns a field path into the name the user wrote (e.g. an environment
        variable); the default keeps the path.

    Returns
    -------
    str
        The lines joined by newlines; raise it as a :class:`ConfigError` or
        :class:`DataError`.
    """
    lines = []
    for err in exc.errors():
        path = field_path((prefix, *err["loc"]) if prefix else tuple(err["loc"]))
        where = name(path) if name is not None else path
        lines.append(f"{source}: {where}: {err['msg']}" if source else f"{where}: {err['msg']}")
    return "\n".join(lines)
