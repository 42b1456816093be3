"""What each device link reports: its status and the confirmation of each setpoint."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bitgaram.errors import ConfigError

#: Faults kept per device in its status (the newest ones).
MAX_FAULTS = 20


@dataclass(frozen=True)
class Confirmation:
    """The outcome of one setpoint at a device.

    Attributes
    ----------
    device : str
        Device id (registry).
    asset : str
        Asset or session the setpoint was for.
    requested_kw : float
        The setpoint's power [kW].
    sent_kw : float
        What was written after clamping to the device's limits [kW].
    readback_kw : float or None
        What the device reports back [kW] (None: nothing read back).
    ok : bool
        The device accepted and the read-back matches ``sent_kw``.
    latency_s : float
        From receiving the setpoint to the confirmation [s].
    message : str
        Why not ok, or what was clamped.
    """

    device: str
    asset: str
    requested_kw: float
    sent_kw: float
    readback_kw: float | None
    ok: bool
    latency_s: float
    message: str = ""


@dataclass
class DeviceStatus:
    """Live status of one device link (``bitgaram devices status``).

    Attributes
    ----------
    id : str
    protocol : str
    connected : bool
    last_seen : float or None
        Epoch seconds of the last message from the device.
    last_setpoint_kw : float or None
        Last power sent [kW].
    last_readback_kw : float or None
        Last power read back [kW].
    faults : list of str
        Newest faults, oldest first.
    """

    id: str
    protocol: str
    connected: bool = False
    last_seen: float | None = None
    last_setpoint_kw: float | None = None
    last_readback_kw: float | None = None
    faults: list[str] = field(default_factory=list)

    def fault(self, message: str) -> None:
        """Record a fault (keeps the newest :data:`MAX_FAULTS`)."""
        self.faults.append(message)
        del self.faults[:-MAX_FAULTS]

    def confirm(self, c: Confirmation) -> None:
        """Record a confirmation."""
        self.last_setpoint_kw = c.sent_kw
        self.last_readback_kw = c.readback_kw
        if not c.ok:
            self.fault(c.message)


def write_status(path: Path, statuses: Iterable[DeviceStatus], extra: dict[str, Any]) -> None:
    """Write the status file atomically (JSON; readers never see half a file)."""
    doc = {"devices": [asdict(s) for s in statuses], **extra}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


def read_status(path: Path) -> tuple[list[DeviceStatus], dict[str, Any]]:
    """Read a status file written by :func:`write_status`.

    Raises
    ------
    ConfigError
        If there is no status file (the device service is not running) or it is unreadable.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no device status; is `bitgaram devices run` running?") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable device status: {exc}") from exc
    devices = [DeviceStatus(**d) for d in doc.pop("devices", [])]
    return devices, doc
