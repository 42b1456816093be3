"""A CityLearn 2022 dataset as a bitgaram site plus readings.

The dataset is read once with :func:`bitgaram.datasets.citylearn.read_citylearn`;
this module maps it onto the site model and the readings table:

- the dataset becomes a site (id from the folder name unless overridden);
- each building becomes a tenant with a ``load`` meter (non-shiftable load
  [kWh per step]) and, when it has PV, a ``pv`` meter [kWh per step], plus its
  battery and PV as assets;
- pricing, carbon intensity and the measured weather columns become
  site-level meters (the ``_predicted_*`` weather and price columns are
  forecasts, not readings, and are not imported).

Meter ids are prefixed with the site id (``<site>-<building>-load``,
``<site>-price``) because a store keys readings by meter id.

**Time.** CityLearn files carry month/hour/day-type only; the reader anchors
them to naive local interval starts. Every day has exactly 24 hourly rows, so
the clock cannot be wall-clock time in a zone with daylight saving time: it is
read as local *standard* time (``daylight_savings_status`` is 0 throughout the
2022 data), i.e. UTC = local - standard offset of the site timezone.

**Overrides.** A TOML file can set the site's id, name, timezone and location
(the files do not say where the buildings are) and the price unit::

    [site]
    id = "fontana"
    name = "Fontana sample park"
    timezone = "America/Los_Angeles"
    latitude = 34.09
    longitude = -117.44

    [citylearn]
    price_unit = "USD/kWh"
"""

from __future__ import annotations

import math
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bitgaram.collect.files import ImportReport, drop_known_quarantine, known_quarantine
from bitgaram.collect.validate import DEFAULT_RULES, ValidationRules, validate_readings
from bitgaram.datasets.citylearn import CityLearnDataset, read_citylearn
from bitgaram.errors import ConfigError, DataError, validation_message
from bitgaram.site import Site
from bitgaram.site.model import Unit, parse_site
from bitgaram.store.base import Store

#: Measured weather columns imported as site meters: column -> (meter suffix, unit).
WEATHER_COLUMNS: dict[str, tuple[str, Unit]] = {
    "outdoor_dry_bulb_temperature": ("outdoor_temperature", Unit.DEGC),
    "outdoor_relative_humidity": ("relative_humidity", Unit.PERCENT),
    "diffuse_solar_irradiance": ("diffuse_irradiance", Unit.W_PER_M2),
    "direct_solar_irradiance": ("direct_irradiance", Unit.W_PER_M2),
}

#: PV output bound as a multiple of nameplate power x step length: irradiance
#: on a module stays below ~1.5 kW/m2 even with cloud enhancement, and STC is 1 kW/m2.
PV_BOUND_FACTOR = 1.5

#: Repository root when running from a source checkout (src/bitgaram/collect/ -> repo).
_REPO_ROOT = Path(__file__).resolve().parents[3]

_ID_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteOverrides(_Strict):
    """Site fields a CityLearn dataset does not carry."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")] | None = None
    name: str | None = None
    timezone: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class CityLearnOptions(_Strict):
    """How to read the dataset's series."""

    price_unit: Unit = Unit.USD_PER_KWH


class CityLearnOverrides(_Strict):
    """Content of an overrides TOML file (``[site]`` and ``[citylearn]`` tables)."""

    site: SiteOverrides = SiteOverrides()
    citylearn: CityLearnOptions = CityLearnOptions()


def sample_park_dir() -> Path:
    """The CityLearn 2022 phase-1 sample park shipped in the repository's ``data/``.

    Resolved relative to the package, not the working directory.

    Raises
    ------
    DataError
        If the sample is not there (e.g. an installed wheel without the repository).
    """
    path = _REPO_ROOT / "data" / "citylearn_2022_phase_1"
    if not (path / "schema.json").is_file():
        raise DataError(
            f"sample park not found at {path}; run from a clone of the bitgaram repository"
        )
    return path


def sample_overrides_file() -> Path | None:
    """``data/sample_park.toml`` (site id, timezone and location of the sample), if present."""
    path = _REPO_ROOT / "data" / "sample_park.toml"
    return path if path.is_file() else None


def load_overrides(path: str | Path) -> CityLearnOverrides:
    """Read and validate an overrides TOML file.

    Raises
    ------
    ConfigError
        If the file is missing, not TOML, or has an unknown or invalid field
        (the message gives the file and the field path).
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read overrides: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    try:
        return CityLearnOverrides.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, str(file))) from exc


def _slug(name: str) -> str:
    slug = _ID_SAFE.sub("_", name.strip()).strip("_.-").lower()
    return slug or "dataset"


def citylearn_site(dataset: CityLearnDataset, overrides: CityLearnOverrides | None = None) -> Site:
    """The site model of a CityLearn dataset.

    Parameters
    ----------
    dataset : CityLearnDataset
        As read by :func:`~bitgaram.datasets.citylearn.read_citylearn`.
    overrides : CityLearnOverrides, optional
        Site id, name, timezone, location and price unit.

    Returns
    -------
    Site
        Tenants = buildings; meters in order: site series, then per building
        load and PV; assets: each building's battery and PV.
    """
    ov = overrides or CityLearnOverrides()
    site_id = ov.site.id or _slug(dataset.path.name)
    info: dict[str, Any] = {
        "id": site_id,
        "name": ov.site.name or f"CityLearn dataset {dataset.path.name}",
        "timezone": ov.site.timezone or "UTC",
        "latitude": ov.site.latitude,
        "longitude": ov.site.longitude,
    }
    step = f"{dataset.seconds_per_time_step}s"
    step_hours = dataset.seconds_per_time_step / 3600.0
    # Price and carbon series only when the schema names their files (the reader
    # fills absent ones with zeros, which are not measurements).
    first_spec = (dataset.schema.get("buildings") or {}).get(dataset.buildings[0].name, {})
    meters: list[dict[str, Any]] = []
    if first_spec.get("pricing"):
        meters.append(
            {"id": f"{site_id}-price", "kind": "price", "unit": ov.citylearn.price_unit,
             "resolution": step, "description": "electricity_pricing"}
        )  # fmt: skip
    if first_spec.get("carbon_intensity"):
        meters.append(
            {"id": f"{site_id}-carbon_intensity", "kind": "carbon_intensity",
             "unit": Unit.KGCO2_PER_KWH, "resolution": step, "description": "carbon_intensity"}
        )  # fmt: skip
    for column, (suffix, unit) in WEATHER_COLUMNS.items():
        if column in dataset.weather.columns:
            meters.append(
                {"id": f"{site_id}-{suffix}", "kind": "weather", "unit": unit,
                 "resolution": step, "description": column}
            )  # fmt: skip
    tenants: list[dict[str, Any]] = []
    assets: list[dict[str, Any]] = []
    for building in dataset.buildings:
        tenant = _slug(building.name)
        tenants.append({"id": tenant, "name": building.name})
        meters.append(
            {"id": f"{site_id}-{tenant}-load", "tenant": tenant, "kind": "load",
             "unit": Unit.KWH, "resolution": step, "description": "non_shiftable_load"}
        )  # fmt: skip
        if building.pv_kwp > 0:
            meters.append(
                {"id": f"{site_id}-{tenant}-pv", "tenant": tenant, "kind": "pv",
                 "unit": Unit.KWH, "resolution": step, "description": "solar_generation",
                 "max_value": PV_BOUND_FACTOR * building.pv_kwp * step_hours}
            )  # fmt: skip
            assets.append(
                {"type": "pv", "id": f"{tenant}-pv", "tenant": tenant,
                 "meter": f"{site_id}-{tenant}-pv", "kwp": building.pv_kwp}
            )  # fmt: skip
        if building.battery is not None:
            b = building.battery
            # The schema gives a round-trip efficiency; split it evenly between directions.
            one_way = math.sqrt(b.efficiency)
            assets.append(
                {"type": "battery", "id": f"{tenant}-battery", "tenant": tenant,
                 "capacity_kwh": b.capacity_kwh, "power_kw": b.nominal_power_kw,
                 "charge_efficiency": one_way, "discharge_efficiency": one_way,
                 "initial_soc": min(max(b.initial_soc, 0.0), 1.0)}
            )  # fmt: skip
    document: dict[str, object] = {
        "site": info,
        "tenants": tenants,
        "meters": meters,
        "assets": assets,
    }
    return parse_site(document, str(dataset.path / "schema.json"))


def utc_index(dataset: CityLearnDataset, timezone: str) -> pd.DatetimeIndex:
    """UTC interval starts of the dataset's steps, reading its clock as standard time."""
    zone = ZoneInfo(timezone)
    first = dataset.index[0].to_pydatetime()
    offset = (zone.utcoffset(first) or timedelta(0)) - (zone.dst(first) or timedelta(0))
    return (dataset.index - pd.Timedelta(offset)).tz_localize("UTC")


def citylearn_readings(dataset: CityLearnDataset, site: Site) -> pd.DataFrame:
    """Raw readings of every meter of :func:`citylearn_site`, with source file and line.

    Returns
    -------
    pandas.DataFrame
        Columns ``meter_id``, ``ts`` (UTC), ``value``, ``source``, ``line``
        (line of the value in its CSV: header = 1), ready for
        :func:`~bitgaram.collect.validate.validate_readings`.
    """
    ts = utc_index(dataset, site.site.timezone)
    n = len(ts)
    start = int(dataset.schema.get("simulation_start_time_step") or 0)
    lines = np.arange(n, dtype=np.int64) + start + 2
    root = dataset.path
    first_spec = (dataset.schema.get("buildings") or {})[dataset.buildings[0].name]
    series: list[tuple[str, np.ndarray, str]] = []
    by_desc = {m.description: m.id for m in site.meters if m.tenant is None}
    if "electricity_pricing" in by_desc:
        source = str(root / first_spec["pricing"])
        series.append((by_desc["electricity_pricing"], dataset.price, source))
    if "carbon_intensity" in by_desc:
        source = str(root / first_spec["carbon_intensity"])
        series.append((by_desc["carbon_intensity"], dataset.carbon_intensity, source))
    for column in WEATHER_COLUMNS:
        if column in by_desc:
            values = pd.to_numeric(dataset.weather[column], errors="coerce").to_numpy(float)
            series.append((by_desc[column], values, str(root / first_spec.get("weather", ""))))
    for building in dataset.buildings:
        tenant = _slug(building.name)
        ids = {m.kind.value: m.id for m in site.meters_of(tenant)}
        series.append((ids["load"], building.load_kwh, str(building.source)))
        if "pv" in ids:
            series.append((ids["pv"], building.pv_kwh, str(building.source)))
    parts = [
        pd.DataFrame(
            {
                "meter_id": pd.Series([meter] * n, dtype="str"),
                "ts": ts,
                "value": np.asarray(values, dtype="float64"),
                "source": pd.Series([source] * n, dtype="str"),
                "line": lines,
            }
        )
        for meter, values, source in series
    ]
    return pd.concat(parts, ignore_index=True)


def import_citylearn(
    store: Store,
    path: str | Path,
    overrides: CityLearnOverrides | str | Path | None = None,
    *,
    rules: ValidationRules = DEFAULT_RULES,
) -> tuple[Site, ImportReport]:
    """Import a CityLearn 2022 dataset: save its site, validate and write its readings.

    Parameters
    ----------
    store : Store
        Destination.
    path : str or pathlib.Path
        Dataset folder (holding ``schema.json``).
    overrides : CityLearnOverrides, path or None
        Site overrides, or the TOML file holding them.
    rules : ValidationRules, optional
        Spike rule thresholds.

    Returns
    -------
    (Site, ImportReport)
        The saved site, and the counts of one atomic write (importing the
        same dataset again reports every reading as unchanged).

    Raises
    ------
    DataError
        If the dataset is malformed.
    ConfigError
        If the overrides are invalid.
    """
    if overrides is not None and not isinstance(overrides, CityLearnOverrides):
        overrides = load_overrides(overrides)
    dataset = read_citylearn(path)
    site = citylearn_site(dataset, overrides)
    raw = citylearn_readings(dataset, site)
    source = str(dataset.path.resolve())
    good, bad = validate_readings(raw, site, source, rules=rules)
    store.save_site(site)
    bad = drop_known_quarantine(bad, known_quarantine(store, sorted(set(bad["source"]))))
    report = store.write_readings(good, quarantine=bad if len(bad) else None, source=source)
    result = ImportReport(
        source=source,
        rows_read=dataset.n_steps,
        readings=len(raw),
        inserted=report.inserted,
        unchanged=report.unchanged,
        replaced=report.replaced,
        quarantined=report.quarantined,
        chunks=1,
        first_bad=bad.head(10),
    )
    return site, result


__all__ = [
    "CityLearnOverrides",
    "citylearn_readings",
    "citylearn_site",
    "import_citylearn",
    "load_overrides",
    "sample_overrides_file",
    "sample_park_dir",
    "utc_index",
]
