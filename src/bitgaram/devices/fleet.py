"""The fleet file: which vehicle an OCPP idTag is, when it leaves and how much it needs.

CSV with a header (``#`` lines are comments)::

    id_tag,vehicle,departure,needed_kwh,capacity_kwh
    04A1B2C3,truck-07,17:30,60,120

``departure`` is a local time of day (the next occurrence after plug-in) or an ISO 8601
timestamp with offset; ``needed_kwh`` is the energy to deliver in the session [kWh]. A session
whose idTag is not in the file gets the configured default (:class:`FleetDefault`) or, without
one, no departure: it is charged at the charger's safe rate and not handed to the planner.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bitgaram.errors import ConfigError


@dataclass(frozen=True)
class Vehicle:
    """One fleet entry.

    Attributes
    ----------
    id_tag : str
    vehicle : str
    departure : str
        ``HH:MM`` local, or an ISO 8601 timestamp with offset.
    needed_kwh : float
        Energy to deliver [kWh].
    capacity_kwh : float
        Battery capacity [kWh].
    """

    id_tag: str
    vehicle: str
    departure: str
    needed_kwh: float
    capacity_kwh: float


@dataclass(frozen=True)
class FleetDefault:
    """What a session of an unknown idTag gets: stays ``dwell_h`` [h], needs ``needed_kwh``."""

    dwell_h: float
    needed_kwh: float
    capacity_kwh: float = 100.0


@dataclass(frozen=True)
class Fleet:
    """The fleet file's vehicles and the default."""

    vehicles: dict[str, Vehicle]
    default: FleetDefault | None = None
    timezone: str = "UTC"

    def plan_for(
        self, id_tag: str, plugged_at: pd.Timestamp
    ) -> tuple[str, pd.Timestamp, float, float] | None:
        """(vehicle, departure UTC, needed [kWh], capacity [kWh]) of a session, None: unknown.

        Examples
        --------
        >>> f = Fleet({"A": Vehicle("A", "van", "17:30", 40, 80)}, timezone="Asia/Seoul")
        >>> f.plan_for("A", pd.Timestamp("2026-08-03 09:00", tz="Asia/Seoul"))[1]
        Timestamp('2026-08-03 08:30:00+0000', tz='UTC')
        """
        v = self.vehicles.get(id_tag)
        if v is None:
            if self.default is None:
                return None
            dep = plugged_at + pd.Timedelta(hours=self.default.dwell_h)
            return id_tag, dep.tz_convert("UTC"), self.default.needed_kwh, self.default.capacity_kwh
        return (
            v.vehicle,
            _departure(v.departure, plugged_at, self.timezone),
            v.needed_kwh,
            (v.capacity_kwh),
        )


def _departure(text: str, plugged_at: pd.Timestamp, timezone: str) -> pd.Timestamp:
    if ":" in text and len(text) <= 5:
        local = plugged_at.tz_convert(timezone)
        hh, mm = (int(x) for x in text.split(":"))
        dep = local.normalize() + pd.Timedelta(hours=hh, minutes=mm)
        if dep <= local:
            dep += pd.Timedelta(days=1)
        return dep.tz_convert("UTC")
    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        raise ConfigError(f"departure {text!r} has no UTC offset")
    return ts.tz_convert("UTC")


def parse_fleet(
    text: str, source: str = "<fleet>", default: FleetDefault | None = None, timezone: str = "UTC"
) -> Fleet:
    """Parse a fleet CSV.

    Raises
    ------
    ConfigError
        Naming the file, line and field of the first bad row.
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    vehicles: dict[str, Vehicle] = {}
    for i, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=2):
        try:
            v = Vehicle(
                row["id_tag"].strip(),
                (row.get("vehicle") or row["id_tag"]).strip(),
                row["departure"].strip(),
                float(row["needed_kwh"]),
                float(row.get("capacity_kwh") or 100.0),
            )
            if v.needed_kwh < 0 or v.capacity_kwh <= 0:
                raise ValueError("needed_kwh must be >= 0 and capacity_kwh > 0")
            _departure(v.departure, pd.Timestamp("2026-01-01", tz="UTC"), timezone)
        except (KeyError, ValueError, AttributeError, ConfigError) as exc:
            raise ConfigError(f"{source}: line {i}: {exc}") from exc
        vehicles[v.id_tag] = v
    return Fleet(vehicles, default, timezone)


def load_fleet(
    path: Path | None, default: FleetDefault | None = None, timezone: str = "UTC"
) -> Fleet:
    """Read a fleet file (None: only the default)."""
    if path is None:
        return Fleet({}, default, timezone)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read fleet file: {exc.strerror}") from exc
    return parse_fleet(text, str(path), default, timezone)
