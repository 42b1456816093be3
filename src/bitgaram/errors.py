"""The exception tree of bitgaram.

Every failure a user can act on is raised as a subclass of :class:`BitgaramError`
with a message that says what was wrong and where (file, line, field). Nothing
in bitgaram returns ``False`` or ``None`` to signal failure. The CLI maps these
exceptions to a one-line message and a non-zero exit code; the web API maps
them to HTTP status codes in one handler.
"""

from __future__ import annotations


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
