"""Dated grid emission factors, kept as package data and selected per reporting year.

The factors live in ``bitgaram/account/data/grid_factors.toml``; adding a year
is a data change, not a code change. Units: tCO2eq/MWh, numerically equal to
kgCO2/kWh, the unit bitgaram computes in.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bitgaram.errors import ConfigError

_PACKAGE_FILE = "grid_factors.toml"


@dataclass(frozen=True)
class GridFactor:
    """One grid emission factor.

    Attributes
    ----------
    id : str
        Identifier, e.g. ``"kr-grid-2023"``.
    value_kg_per_kwh : float
        Factor [kgCO2/kWh] (= tCO2eq/MWh).
    data_year : int or None
        Year of the data it describes; None for multi-year or legacy factors.
    announced : str
        When it was published (``YYYY-MM``), empty when unknown.
    note : str
        Provenance.
    """

    id: str
    value_kg_per_kwh: float
    data_year: int | None = None
    announced: str = ""
    note: str = ""


def load_grid_factors(path: str | Path | None = None) -> tuple[GridFactor, ...]:
    """Read grid factors from a TOML file (default: the packaged Korean factors).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A file with ``[[factor]]`` tables (``id``, ``value``, optional
        ``data_year``, ``announced``, ``note``).

    Returns
    -------
    tuple of GridFactor

    Raises
    ------
    ConfigError
        If the file is missing, not TOML, or an entry is malformed.
    """
    try:
        if path is None:
            text = resources.files("bitgaram.account").joinpath("data", _PACKAGE_FILE).read_text()
            where = f"bitgaram/account/data/{_PACKAGE_FILE}"
        else:
            text = Path(path).read_text(encoding="utf-8")
            where = str(path)
        raw = tomllib.loads(text)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: grid factor file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    out = []
    for i, entry in enumerate(raw.get("factor", [])):
        try:
            value = float(entry["value"])
            fid = str(entry["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: factor #{i + 1} needs 'id' and numeric 'value'") from exc
        if not 0 <= value < 5:
            raise ConfigError(f"{where}: factor {fid}: value {value} tCO2/MWh is implausible")
        year = entry.get("data_year")
        out.append(
            GridFactor(
                id=fid,
                value_kg_per_kwh=value,
                data_year=int(year) if year is not None else None,
                announced=str(entry.get("announced", "")),
                note=str(entry.get("note", "")),
            )
        )
    if not out:
        raise ConfigError(f"{where}: no [[factor]] entries")
    return tuple(out)


def grid_factor_for_year(
    year: int, factors: tuple[GridFactor, ...] | None = None, factor_id: str | None = None
) -> GridFactor:
    """The grid factor to use for a reporting year.

    Parameters
    ----------
    year : int
        Reporting year.
    factors : tuple of GridFactor, optional
        Candidates (default: :func:`load_grid_factors`).
    factor_id : str, optional
        Pick this factor regardless of year.

    Returns
    -------
    GridFactor
        The factor with ``factor_id``, else the latest single-year factor whose
        data year is not after ``year`` (a year's own factor is published
        later, so the latest available one is used meanwhile).

    Raises
    ------
    ConfigError
        If ``factor_id`` is unknown or no factor predates ``year``.

    Examples
    --------
    >>> grid_factor_for_year(2022).value_kg_per_kwh
    0.4312
    >>> grid_factor_for_year(2025).id
    'kr-grid-2023'
    """
    pool = factors if factors is not None else load_grid_factors()
    if factor_id is not None:
        for f in pool:
            if f.id == factor_id:
                return f
        raise ConfigError(f"unknown grid factor {factor_id!r}; known: {[f.id for f in pool]}")
    dated = [f for f in pool if f.data_year is not None and f.data_year <= year]
    if not dated:
        raise ConfigError(
            f"no dated grid factor for {year} or earlier; choose one by id "
            f"({[f.id for f in pool]}) or add it to the factor file"
        )
    return max(dated, key=lambda f: f.data_year or 0)
