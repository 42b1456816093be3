"""Read tariff files (the I/O edge of :mod:`bitgaram.tariff`).

Shipped tariffs live in ``bitgaram/tariff/data/*.toml`` (installed as package data) and are
found by their ``name`` (e.g. ``kepco-industrial-eul-high-a``) or file stem; any other TOML
file with the same schema can be given by path.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from bitgaram.errors import ConfigError
from bitgaram.tariff.schema import TariffFileSpec, parse_tariff_file
from bitgaram.tariff.tou import TouTariff


def _shipped() -> dict[str, Path]:
    root = resources.files("bitgaram.tariff") / "data"
    out: dict[str, Path] = {}
    for entry in root.iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name.removesuffix(".toml")] = Path(str(entry))
    return out


def read_tariff_file(path: str | Path) -> TariffFileSpec:
    """Parse and validate a tariff TOML file.

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, or a field is invalid (the message names both).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"tariff file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tariff file {path}: not valid TOML: {exc}") from exc
    return parse_tariff_file(data, str(path))


def list_tariffs() -> dict[str, TariffFileSpec]:
    """Shipped tariffs by name."""
    specs = (read_tariff_file(p) for p in _shipped().values())
    return {s.name: s for s in sorted(specs, key=lambda s: s.name)}


def resolve_tariff(name_or_path: str | Path) -> TariffFileSpec:
    """The tariff file named ``name_or_path`` (shipped name, file stem, or a path to a file)."""
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).is_file():
        return read_tariff_file(text)
    shipped = _shipped()
    stem = text.replace("-", "_")
    if stem in shipped:
        return read_tariff_file(shipped[stem])
    specs = list_tariffs()
    if text in specs:
        return specs[text]
    raise ConfigError(f"unknown tariff {text!r}; shipped tariffs: {', '.join(specs)}")


def load_tariff(name_or_path: str | Path, option: str | None = None) -> TouTariff:
    """Load one option of a tariff.

    Parameters
    ----------
    name_or_path : str or Path
        Shipped tariff name (``kepco-industrial-eul-high-a``, ``kepco-industrial-gap2-high-a``)
        or path to a tariff TOML file.
    option : str, optional
        Option (``"I"``, ``"II"``, ``"III"``); may be omitted when the tariff has only one.

    Returns
    -------
    TouTariff

    Examples
    --------
    >>> load_tariff("kepco-industrial-eul-high-a", option="II").demand_rate(
    ...     __import__("pandas").Period("2026-08", "M"))
    8320.0
    """
    spec = resolve_tariff(name_or_path)
    if option is None:
        if len(spec.options) != 1:
            raise ConfigError(
                f"tariff {spec.name!r} has options {', '.join(spec.options)}: choose one"
            )
        option = spec.options[0]
    return TouTariff.from_spec(spec, option)
