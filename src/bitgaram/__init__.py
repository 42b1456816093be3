"""bitgaram: an open-source AI energy platform for industrial parks.

The package is laid out by capability: ``site`` (park description), ``store``
(time-series storage), ``collect`` (file and live ingestion), ``datasets``
(benchmark dataset readers), ``forecast``, ``optimize``, ``simulate``,
``tariff``, ``verify`` (M&V), ``account`` (carbon, RE100) and ``cli``.
"""

from bitgaram.errors import (
    BitgaramError,
    ConfigError,
    DataError,
    ForecastError,
    SolveError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "BitgaramError",
    "ConfigError",
    "DataError",
    "ForecastError",
    "SolveError",
    "StoreError",
    "__version__",
]
