"""Reader for datasets in the CityLearn Challenge 2022 format.

A dataset is a folder with a ``schema.json`` and the CSV files it names: one
``energy_simulation`` file per building (hourly load and normalised PV output),
a weather file with 6/12/24 h forecast columns, a pricing file and a carbon
intensity file. This module turns such a folder into typed arrays and frames;
it does no storage and no modelling.

Conventions (see ``docs/glossary.md``): energies in kWh per time step, power in
kW, price in the dataset's currency per kWh, carbon intensity in kgCO2/kWh.
Timestamps label the *start* of each interval. CityLearn files carry no year
or timezone, only month, hour (1-24, hour ``h`` is the interval ending at
``h``:00) and day type (1 = Monday ... 7 = Sunday, 8 = holiday); the year is
inferred from the calendar columns (see :func:`infer_start_timestamp`).

Devices. Every device a building declares in the schema is recognised
(:data:`DEVICE_KEYS`). bitgaram controls the battery (``electrical_storage``) and
reads the PV; the devices that serve the building's thermal loads without being
controlled become electricity, as CityLearn defines them: a heat pump draws
``demand / COP`` with the Carnot COP of :func:`heat_pump_cop` at the outdoor
temperature, an electric heater ``demand / efficiency`` (``cooling_demand``,
``heating_demand`` and ``dhw_demand`` columns, CityLearn 2023 format). Devices it
cannot model (thermal storage tanks, temperature dynamics, EV chargers, anything
unknown) raise :class:`UnsupportedDeviceError` naming the building and the device;
with ``ignore_unsupported=True`` they are left idle (as an agent sending no action
to them) and listed in :attr:`CityLearnDataset.ignored`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bitgaram.errors import DataError

#: Columns every ``energy_simulation`` CSV must have.
REQUIRED_BUILDING_COLUMNS = ("month", "hour", "day_type", "non_shiftable_load", "solar_generation")

#: Default year tried first when the calendar fits several years.
PREFERRED_YEAR = 2022

#: Building keys of a schema that declare a device, and what bitgaram does with each:
#: ``controlled`` (the battery), ``generation`` (PV), ``load`` (a heat pump or electric
#: heater serving an uncontrolled thermal load, turned into electricity) or
#: ``unsupported``.
DEVICE_KEYS: dict[str, str] = {
    "electrical_storage": "controlled",
    "pv": "generation",
    "cooling_device": "load",
    "heating_device": "load",
    "dhw_device": "load",
    "cooling_storage": "unsupported",
    "heating_storage": "unsupported",
    "dhw_storage": "unsupported",
    "dynamics": "unsupported",
    "chargers": "unsupported",
    "electric_vehicle_chargers": "unsupported",
    "washing_machines": "unsupported",
}

#: Thermal load column served by each device key, and whether it is heating.
THERMAL_LOADS: dict[str, tuple[str, bool]] = {
    "cooling_device": ("cooling_demand", False),
    "heating_device": ("heating_demand", True),
    "dhw_device": ("dhw_demand", True),
}

#: CityLearn's defaults where a schema leaves a device attribute out: it draws them from
#: these ranges at random; bitgaram takes the middle (and says so in ``modelled``).
HEAT_PUMP_DEFAULTS = {
    "efficiency": (0.2, 0.3),
    "target_heating_temperature": (45.0, 50.0),
    "target_cooling_temperature": (7.0, 10.0),
}
ELECTRIC_HEATER_DEFAULT_EFFICIENCY = (0.9, 0.99)

#: CityLearn caps the Carnot COP at 20 (and sets it to 20 where the formula turns negative).
MAX_COP = 20.0


class UnsupportedDeviceError(DataError):
    """A schema declares a device bitgaram cannot model (see the module docstring)."""


def heat_pump_cop(
    outdoor_c: np.ndarray, efficiency: float, target_c: float, heating: bool
) -> np.ndarray:
    """Coefficient of performance of a CityLearn heat pump [-].

    CityLearn's Carnot model: heating ``eta (T_h + 273.15) / (T_h - T_out)``, cooling
    ``eta (T_c + 273.15) / (T_out - T_c)`` (temperatures in degC), set to
    :data:`MAX_COP` where it is negative or above it.

    Examples
    --------
    >>> import numpy as np
    >>> heat_pump_cop(np.array([5.0, 30.0]), 0.25, 45.0, heating=True).round(3).tolist()
    [1.988, 5.302]
    >>> heat_pump_cop(np.array([30.0, 5.0]), 0.25, 8.0, heating=False).round(3).tolist()
    [3.195, 20.0]
    """
    t = np.asarray(outdoor_c, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if heating:
            cop = efficiency * (target_c + 273.15) / (target_c - t)
        else:
            cop = efficiency * (target_c + 273.15) / (t - target_c)
    cop = np.where(np.isfinite(cop), cop, MAX_COP)
    return np.where((cop < 0) | (cop > MAX_COP), MAX_COP, cop)


@dataclass(frozen=True)
class BatterySpec:
    """Electrical storage of a CityLearn building.

    Parameters
    ----------
    capacity_kwh : float
        Usable energy capacity [kWh].
    nominal_power_kw : float
        Nominal charge/discharge power [kW].
    efficiency : float
        Round-trip efficiency given in the schema [-]; CityLearn 2022 replaces it
        by a power-dependent curve (see :mod:`bitgaram.simulate`).
    capacity_loss_coefficient : float
        Capacity fade per unit of normalised throughput [-].
    loss_coefficient : float
        Standing loss per time step as a fraction of stored energy [-].
    initial_soc : float
        State of charge at the first step as a fraction of capacity [-].
    """

    capacity_kwh: float
    nominal_power_kw: float
    efficiency: float = 0.9
    capacity_loss_coefficient: float = 0.0
    loss_coefficient: float = 0.0
    initial_soc: float = 0.0


@dataclass(frozen=True)
class CityLearnBuilding:
    """One building of a CityLearn dataset.

    Attributes
    ----------
    name : str
        Building name as in ``schema.json`` (e.g. ``"Building_1"``).
    load_kwh : numpy.ndarray
        Non-shiftable load per time step [kWh].
    pv_kwh : numpy.ndarray
        PV generation per time step [kWh] = ``pv_kwp * solar_generation / 1000``.
    pv_kwp : float
        PV nominal power [kWp]; 0 when the building has no PV.
    battery : BatterySpec or None
        The building's battery, if any.
    frame : pandas.DataFrame
        The building CSV as read (rows of the simulated period only).
    source : pathlib.Path
        The building CSV file.
    thermal_kwh : numpy.ndarray or None
        Electricity of the heat pumps and electric heaters serving the thermal loads per
        time step [kWh], included in ``load_kwh``; None without such devices.
    """

    name: str
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    pv_kwp: float
    battery: BatterySpec | None
    frame: pd.DataFrame
    source: Path
    thermal_kwh: np.ndarray | None = None


@dataclass(frozen=True)
class CityLearnDataset:
    """A CityLearn 2022 dataset: buildings plus shared site series.

    Attributes
    ----------
    path : pathlib.Path
        Dataset folder.
    buildings : tuple of CityLearnBuilding
        Included buildings in schema order.
    index : pandas.DatetimeIndex
        Naive local interval-start timestamps, one per time step.
    weather : pandas.DataFrame
        Weather columns (temperature [degC], humidity [%], diffuse and direct
        irradiance [W/m2] and their ``_predicted_1/2/3`` columns: the values
        forecast for t+6, t+12 and t+24 h), indexed like ``index``.
    price : numpy.ndarray
        Electricity price per time step [currency/kWh].
    price_frame : pandas.DataFrame
        The pricing file with its ``_predicted_*`` columns.
    carbon_intensity : numpy.ndarray
        Grid carbon intensity per time step [kgCO2/kWh].
    calendar : pandas.DataFrame
        ``month``, ``hour``, ``day_type``, ``daylight_savings_status`` columns.
    seconds_per_time_step : int
        Length of a step [s].
    schema : dict
        The parsed ``schema.json``.
    modelled : tuple of str
        Devices turned into electricity (``building.device: how``).
    ignored : tuple of str
        Devices left idle because bitgaram cannot model them (``ignore_unsupported``).
    """

    path: Path
    buildings: tuple[CityLearnBuilding, ...]
    index: pd.DatetimeIndex
    weather: pd.DataFrame
    price: np.ndarray
    price_frame: pd.DataFrame
    carbon_intensity: np.ndarray
    calendar: pd.DataFrame
    seconds_per_time_step: int
    schema: dict[str, Any] = field(repr=False)
    modelled: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def n_steps(self) -> int:
        """Number of time steps in the simulated period."""
        return len(self.index)

    @property
    def building_names(self) -> list[str]:
        """Building names in schema order."""
        return [b.name for b in self.buildings]

    def load_matrix(self) -> np.ndarray:
        """Load of every building, shape (n_steps, n_buildings) [kWh]."""
        return np.column_stack([b.load_kwh for b in self.buildings])

    def pv_matrix(self) -> np.ndarray:
        """PV generation of every building, shape (n_steps, n_buildings) [kWh]."""
        return np.column_stack([b.pv_kwh for b in self.buildings])


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: file named in schema.json does not exist")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot parse CSV: {exc}") from exc


def _numeric_column(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    if column not in frame.columns:
        raise DataError(f"{path}: missing column '{column}'")
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        # +2: one header line, and CSV lines count from 1.
        raise DataError(
            f"{path}: line {first + 2}, column '{column}': "
            f"non-numeric or empty value {frame[column].iloc[first]!r}"
        )
    return values.to_numpy(dtype=float)


def infer_start_timestamp(
    calendar: pd.DataFrame, seconds_per_time_step: int = 3600
) -> pd.Timestamp:
    """Infer the interval-start timestamp of the first row from calendar columns.

    CityLearn files give month, hour (1-24) and day type but no year or day of
    month. The day of month is found from the first month change (the first
    row of a new month is day 1); the year is the one, between 1990 and 2040
    and nearest to :data:`PREFERRED_YEAR`, whose weekdays match the day types
    (holidays, day type 8, are skipped).

    Parameters
    ----------
    calendar : pandas.DataFrame
        Columns ``month``, ``hour``, ``day_type`` (one row per step).
    seconds_per_time_step : int
        Step length [s].

    Returns
    -------
    pandas.Timestamp
        Naive local timestamp of the start of the first interval.

    Raises
    ------
    DataError
        If no year matches the calendar.
    """
    month = calendar["month"].to_numpy(dtype=int)
    hour = calendar["hour"].to_numpy(dtype=int)
    day_type = calendar["day_type"].to_numpy(dtype=int)
    step = pd.Timedelta(seconds=seconds_per_time_step)
    steps_per_day = max(1, round(86400 / seconds_per_time_step))
    change = np.flatnonzero(month[1:] != month[:-1])
    if change.size:
        # Row change+1 is the first step of day 1 of the new month, whose start is 00:00.
        anchor_row = int(change[0]) + 1
        anchor_month = int(month[anchor_row])
        anchor_day = 1
        anchor_hour_offset = pd.Timedelta(hours=int(hour[anchor_row]) - 1)
    else:
        # No month change: the day of month cannot be known; the first day whose weekday
        # matches is taken (weekdays, which drive load, stay right).
        anchor_row, anchor_month, anchor_day = 0, int(month[0]), 0
        anchor_hour_offset = pd.Timedelta(hours=int(hour[0]) - 1)
    sample = np.arange(0, min(len(month), 60 * steps_per_day), max(1, steps_per_day // 2))
    candidates = sorted(range(1990, 2041), key=lambda y: (abs(y - PREFERRED_YEAR), -y))
    for year in candidates:
        anchor_year = year
        # Data that starts in a late month and changes into January crosses a year.
        if change.size and anchor_month < int(month[0]):
            anchor_year = year + 1
        for day in [anchor_day] if anchor_day else range(1, 8):
            try:
                anchor = pd.Timestamp(year=anchor_year, month=anchor_month, day=day)
            except ValueError:
                continue
            start = anchor + anchor_hour_offset - anchor_row * step
            # Hour 24 belongs to the day it ends, so the interval start gives the day.
            offsets = pd.to_timedelta(sample * seconds_per_time_step, unit="s")
            stamps = pd.DatetimeIndex(start + offsets)
            expected = stamps.day_of_week.to_numpy() + 1
            observed = day_type[sample]
            mask = observed != 8
            if np.array_equal(expected[mask], observed[mask]):
                return pd.Timestamp(start)
    raise DataError("cannot infer the year: no year in 1990-2040 matches the day_type column")


def _battery(spec: dict[str, Any] | None, where: str) -> BatterySpec | None:
    if not spec:
        return None
    attrs = spec.get("attributes") or {}
    try:
        capacity = float(attrs["capacity"])
        power = float(attrs.get("nominal_power", capacity))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}.electrical_storage.attributes: needs numeric 'capacity'") from exc
    if capacity <= 0 or power <= 0:
        return None
    return BatterySpec(
        capacity_kwh=capacity,
        nominal_power_kw=power,
        efficiency=float(attrs.get("efficiency", 0.9)),
        capacity_loss_coefficient=float(attrs.get("capacity_loss_coefficient", 0.0)),
        loss_coefficient=float(attrs.get("loss_coefficient", 0.0)),
        initial_soc=float(attrs.get("initial_soc", 0.0)),
    )


#: Building keys of a schema that are settings, not devices.
_SETTINGS = {
    "include",
    "energy_simulation",
    "weather",
    "carbon_intensity",
    "pricing",
    "inactive_observations",
    "inactive_actions",
    "type",
}

_WHY = {
    "cooling_storage": "a thermal storage tank (bitgaram controls only batteries)",
    "heating_storage": "a thermal storage tank (bitgaram controls only batteries)",
    "dhw_storage": "a thermal storage tank (bitgaram controls only batteries)",
    "dynamics": "indoor temperature dynamics (the cooling/heating devices are then controlled)",
    "chargers": "EV chargers",
    "electric_vehicle_chargers": "EV chargers",
    "washing_machines": "shiftable appliances",
}


def _attr(attrs: dict[str, Any], key: str, default: tuple[float, float], notes: list[str]) -> float:
    value = attrs.get(key)
    if value is None:
        span = f"{default[0]:g}-{default[1]:g}"
        notes.append(f"{key} {sum(default) / 2:g} (CityLearn draws from {span})")
        return sum(default) / 2
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"attribute {key!r}: expected a number, got {value!r}") from exc


def _thermal_kwh(
    key: str, device: dict[str, Any], frame: pd.DataFrame, path: Path, outdoor_c: np.ndarray | None
) -> tuple[np.ndarray, str]:
    """Electricity of a device serving an uncontrolled thermal load [kWh] and how it was got."""
    column, heating = THERMAL_LOADS[key]
    demand = _numeric_column(frame, column, path)
    kind = str(device.get("type", "")).rsplit(".", 1)[-1]
    attrs = device.get("attributes") or {}
    notes: list[str] = []
    if kind == "HeatPump":
        if outdoor_c is None:
            raise DataError(
                f"{path}: a heat pump serves {column} but the weather file has no "
                "'outdoor_dry_bulb_temperature' for its COP"
            )
        eta = _attr(attrs, "efficiency", HEAT_PUMP_DEFAULTS["efficiency"], notes)
        name = "target_heating_temperature" if heating else "target_cooling_temperature"
        target = _attr(attrs, name, HEAT_PUMP_DEFAULTS[name], notes)
        cop = heat_pump_cop(outdoor_c, eta, target, heating)
        how = f"{column} / heat pump COP (mean {float(np.mean(cop)):.2f})"
        out = demand / cop
    elif kind == "ElectricHeater":
        eff = _attr(attrs, "efficiency", ELECTRIC_HEATER_DEFAULT_EFFICIENCY, notes)
        how = f"{column} / electric heater efficiency {eff:g}"
        out = demand / eff
    else:
        raise UnsupportedDeviceError(f"device type {device.get('type')!r}")
    return out, how + (f"; defaults: {', '.join(notes)}" if notes else "")


def _devices(
    name: str,
    spec: dict[str, Any],
    frame: pd.DataFrame,
    path: Path,
    outdoor_c: np.ndarray | None,
    ignore_unsupported: bool,
    where: Path,
) -> tuple[np.ndarray | None, list[str], list[str]]:
    """Electricity of the thermal devices, what was modelled and what was ignored."""
    thermal: np.ndarray | None = None
    modelled: list[str] = []
    ignored: list[str] = []
    for key, device in spec.items():
        if key in _SETTINGS or not device:
            continue
        role = DEVICE_KEYS.get(key)
        if role is None and not (isinstance(device, dict) and "type" in device):
            continue  # a setting of a later CityLearn version, not a device
        dtype = device.get("type", "?") if isinstance(device, dict) else "?"
        attrs = (device.get("attributes") or {}) if isinstance(device, dict) else {}
        empty = float(attrs.get("capacity", 0.0) or 0.0) <= 0.0
        if key.endswith("_storage") and role == "unsupported" and empty:
            continue  # an empty tank does nothing
        why = _WHY.get(key, "a device type it does not know")
        if role == "load":
            try:
                kwh, how = _thermal_kwh(key, device, frame, path, outdoor_c)
            except UnsupportedDeviceError:
                role, why = "unsupported", f"a {dtype} serving a thermal load"
            else:
                thermal = kwh if thermal is None else thermal + kwh
                modelled.append(f"{name}.{key}: {how}")
                continue
        if role == "unsupported" or role is None:
            label = f"{name}.{key} ({dtype})"
            if not ignore_unsupported:
                raise UnsupportedDeviceError(
                    f"{where}: buildings.{label}: bitgaram cannot model {why}; run with "
                    "--ignore-unsupported to leave it idle (recorded in kpis.json as 'ignored')"
                )
            ignored.append(f"{label}: {why}, left idle")
    return thermal, modelled, ignored


def _selected(
    spec: dict[str, Any], buildings: Sequence[str] | None, schema_path: Path
) -> list[tuple[str, Any]]:
    """The (name, spec) pairs to read, in schema order."""
    if buildings is None:
        included = [(n, s) for n, s in spec.items() if s.get("include", True)]
        if not included:
            raise DataError(f"{schema_path}: no building has include=true")
        return included
    wanted = [buildings] if isinstance(buildings, str) else list(buildings)
    unknown = [n for n in wanted if n not in spec]
    if unknown:
        raise DataError(
            f"{schema_path}: no building named {', '.join(map(repr, unknown))}; "
            f"the schema has {', '.join(spec)}"
        )
    if not wanted:
        raise DataError(f"{schema_path}: the building selection is empty")
    return [(n, s) for n, s in spec.items() if n in wanted]


def _read_schema(path: Path) -> tuple[Path, dict[str, Any]]:
    """The schema file and its content (with a non-empty ``buildings`` object)."""
    schema_path = path if path.is_file() else path / "schema.json"
    if not schema_path.is_file():
        raise DataError(f"{schema_path}: no schema.json in the dataset folder")
    try:
        schema = json.loads(schema_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{schema_path}: line {exc.lineno}: invalid JSON: {exc.msg}") from exc
    buildings_spec = schema.get("buildings")
    if not isinstance(buildings_spec, dict) or not buildings_spec:
        raise DataError(f"{schema_path}: 'buildings' must be a non-empty object")
    return schema_path, schema


def _building_frame(
    root: Path, name: str, spec: dict[str, Any], schema_path: Path
) -> tuple[pd.DataFrame, Path]:
    """A building's energy-simulation file, with the columns bitgaram needs."""
    sim = spec.get("energy_simulation")
    if not sim:
        raise DataError(f"{schema_path}: buildings.{name}.energy_simulation is missing")
    frame_path = root / sim
    frame = _read_csv(frame_path)
    for column in REQUIRED_BUILDING_COLUMNS:
        if column not in frame.columns:
            raise DataError(f"{frame_path}: missing column '{column}'")
    return frame, frame_path


def _simulated_steps(
    schema: dict[str, Any], frames: dict[str, tuple[pd.DataFrame, Path]], schema_path: Path
) -> tuple[int, int]:
    """First and last simulated step (inclusive), within the rows every building has."""
    n_rows = min(len(f) for f, _ in frames.values())
    start_step = int(schema.get("simulation_start_time_step") or 0)
    end_raw = schema.get("simulation_end_time_step")
    end_step = int(end_raw) if end_raw is not None else n_rows - 1
    end_step = min(end_step, n_rows - 1)
    if not 0 <= start_step <= end_step:
        raise DataError(
            f"{schema_path}: simulation steps {start_step}..{end_step} do not fit {n_rows} rows"
        )
    return start_step, end_step


def _shared_frames(
    root: Path, included: list[tuple[str, dict[str, Any]]], rows: slice, schema_path: Path
) -> dict[str, pd.DataFrame]:
    """The site-wide weather, pricing and carbon files over the simulated rows."""
    shared: dict[str, pd.DataFrame] = {}
    for key in ("weather", "pricing", "carbon_intensity"):
        files = {s.get(key) for _, s in included}
        if len(files) > 1:
            raise DataError(
                f"{schema_path}: buildings use different '{key}' files {sorted(map(str, files))}; "
                "bitgaram reads one site-wide series"
            )
        file = included[0][1].get(key)
        if file:
            frame = _read_csv(root / file)
            if len(frame) < rows.stop:
                raise DataError(f"{root / file}: has {len(frame)} rows, needs {rows.stop}")
            shared[key] = frame.iloc[rows].reset_index(drop=True)
    return shared


def _calendar(
    first: tuple[pd.DataFrame, Path], start_step: int, end_step: int, seconds: int
) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """The simulated period's calendar columns and timestamps (from the first building)."""
    frame, frame_path = first
    frame = frame.iloc[: end_step + 1]
    calendar_cols = [
        c for c in ("month", "hour", "day_type", "daylight_savings_status") if c in frame
    ]
    full_calendar = frame[calendar_cols].apply(pd.to_numeric, errors="coerce")
    if full_calendar[["month", "hour", "day_type"]].isna().any().any():
        raise DataError(f"{frame_path}: non-numeric month/hour/day_type values")
    full_calendar = full_calendar.astype(int)
    # The date is inferred from every row up to the end (month changes anchor the day of
    # month), then the simulated period is cut out of it.
    step = pd.Timedelta(seconds=seconds)
    start = infer_start_timestamp(full_calendar, seconds) + start_step * step
    calendar = full_calendar.iloc[start_step : end_step + 1].reset_index(drop=True)
    return calendar, pd.date_range(start, periods=len(calendar), freq=step)


def _building(
    name: str,
    spec: dict[str, Any],
    frame: pd.DataFrame,
    frame_path: Path,
    thermal: np.ndarray | None,
) -> CityLearnBuilding:
    """One building over the simulated rows: its electric load (thermal loads as electricity
    added), its PV and its battery."""
    load = _numeric_column(frame, "non_shiftable_load", frame_path)
    if thermal is not None:
        load = load + thermal
    solar = _numeric_column(frame, "solar_generation", frame_path)
    pv_kwp = float(((spec.get("pv") or {}).get("attributes") or {}).get("nominal_power", 0.0) or 0)
    return CityLearnBuilding(
        name=name,
        load_kwh=load,
        pv_kwh=pv_kwp * solar / 1000.0,
        pv_kwp=pv_kwp,
        battery=_battery(spec.get("electrical_storage"), f"buildings.{name}"),
        frame=frame,
        source=frame_path,
        thermal_kwh=thermal,
    )


def read_citylearn(
    path: str | Path,
    ignore_unsupported: bool = False,
    buildings: Sequence[str] | None = None,
) -> CityLearnDataset:
    """Read a CityLearn 2022 dataset folder.

    Parameters
    ----------
    path : str or pathlib.Path
        Folder holding ``schema.json`` (or the path of the schema file itself).
    ignore_unsupported : bool
        Leave devices bitgaram cannot model idle (listed in ``ignored``) instead of
        raising :class:`UnsupportedDeviceError`.
    buildings : sequence of str, optional
        Read only these buildings (schema names), kept in schema order, whatever
        their ``include`` flag says: the dataset a schema listing only them would
        give (e.g. a sub-district). None: the buildings with ``include`` true.

    Returns
    -------
    CityLearnDataset
        Buildings, calendar, weather, price and carbon intensity for the
        simulated period (``simulation_start_time_step`` to
        ``simulation_end_time_step``, inclusive).

    Raises
    ------
    DataError
        If the schema or a file it names is missing or malformed (the message
        names the file, line and column), or ``buildings`` names a building the
        schema does not have (the message names it).
    UnsupportedDeviceError
        If a building declares a device bitgaram cannot model (named with its building).

    Examples
    --------
    >>> ds = read_citylearn("data/citylearn_2022_phase_1")  # doctest: +SKIP
    >>> ds.load_matrix().shape  # doctest: +SKIP
    (8760, 5)
    >>> sub = read_citylearn(ds.path, buildings=["Building_2"])  # doctest: +SKIP
    >>> sub.building_names  # doctest: +SKIP
    ['Building_2']
    """
    schema_path, schema = _read_schema(Path(path))
    root = schema_path.parent
    seconds = int(schema.get("seconds_per_time_step") or 3600)
    included = _selected(schema["buildings"], buildings, schema_path)
    frames = {name: _building_frame(root, name, spec, schema_path) for name, spec in included}
    start_step, end_step = _simulated_steps(schema, frames, schema_path)
    rows = slice(start_step, end_step + 1)
    first_name, first_spec = included[0]
    shared = _shared_frames(root, included, rows, schema_path)
    calendar, index = _calendar(frames[first_name], start_step, end_step, seconds)

    weather_frame = shared.get("weather")
    outdoor = None
    if weather_frame is not None and "outdoor_dry_bulb_temperature" in weather_frame:
        wpath = root / str(first_spec.get("weather"))
        outdoor = _numeric_column(weather_frame, "outdoor_dry_bulb_temperature", wpath)
    read: list[CityLearnBuilding] = []
    modelled: list[str] = []
    ignored: list[str] = []
    for name, spec in included:
        frame, frame_path = frames[name]
        frame = frame.iloc[rows].reset_index(drop=True)
        thermal, done, left = _devices(
            name, spec, frame, frame_path, outdoor, ignore_unsupported, schema_path
        )
        modelled += done
        ignored += left
        read.append(_building(name, spec, frame, frame_path, thermal))

    n = len(index)
    weather = shared.get("weather", pd.DataFrame(index=range(n)))
    weather.index = index
    pricing = shared.get("pricing", pd.DataFrame({"electricity_pricing": np.zeros(n)}))
    pricing.index = index
    carbon = shared.get("carbon_intensity", pd.DataFrame({"carbon_intensity": np.zeros(n)}))
    price = _numeric_column(pricing, "electricity_pricing", root / str(first_spec.get("pricing")))
    carbon_values = _numeric_column(
        carbon, "carbon_intensity", root / str(first_spec.get("carbon_intensity"))
    )
    calendar.index = index
    return CityLearnDataset(
        path=root,
        buildings=tuple(read),
        index=index,
        weather=weather,
        price=price,
        price_frame=pricing,
        carbon_intensity=carbon_values,
        calendar=calendar,
        seconds_per_time_step=seconds,
        schema=schema,
        modelled=tuple(modelled),
        ignored=tuple(ignored),
    )
