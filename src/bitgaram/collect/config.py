"""The ``[collect]`` section of a site file: what the collector service runs.

Example::

    [collect]
    state_file = "collect-state.json"     # default: .collect-<site>.json beside the site file

    [collect.writer]
    max_rows = 5000        # most readings per store transaction (a backlog is written in
                           # batches sized to max_delay_s, growing to this to catch up)
    max_delay_s = 0.1      # oldest reading waits at most this long [s]
    queue_size = 1000      # submissions held before sources are slowed down

    [collect.mqtt]
    host = "127.0.0.1"
    port = 1883
    client_id = "bitgaram-collect-cheomdan"   # fixed: the broker keeps its session

    [collect.http]
    port = 8081            # POST /api/v1/readings

    [[collect.modbus]]
    name = "acme-main"
    host = "10.0.0.5"
    model = "generic-power-meter"   # register map in bitgaram/collect/registers/, or a path
    interval_s = 60
    meters = { active_power = "acme-pv", energy_import = "acme-load" }

The site model itself (:class:`bitgaram.site.Site`) does not know this
section; :func:`load_collect_site` splits it off before validating the site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bitgaram.errors import ConfigError, validation_message
from bitgaram.site import Site, read_site_file


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WriterConfig(_Model):
    """Batching of the store writes."""

    max_rows: int = Field(default=5000, ge=1)
    max_delay_s: float = Field(default=0.1, gt=0)
    queue_size: int = Field(default=1000, ge=1)


class MqttConfig(_Model):
    """The MQTT subscription (``client_id`` defaults to ``bitgaram-collect-<site>``)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = None
    topic_prefix: str = "bitgaram"
    keepalive: int = Field(default=30, ge=5)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(default=1000, ge=1, le=65535)
    username: str | None = None
    password: str | None = None


class HttpConfig(_Model):
    """The HTTP push endpoint of the collector's own small app."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)


class ModbusDeviceConfig(_Model):
    """One Modbus TCP device polled by the collector."""

    name: str
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=247)
    model: str
    interval_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    retries: int = Field(default=2, ge=0)
    meters: dict[str, str]


class CollectConfig(_Model):
    """Everything the collector service runs."""

    state_file: str | None = None
    status_interval_s: float = Field(default=2.0, gt=0)
    writer: WriterConfig = WriterConfig()
    mqtt: MqttConfig = MqttConfig()
    http: HttpConfig = HttpConfig()
    modbus: tuple[ModbusDeviceConfig, ...] = ()


def parse_collect(data: dict[str, Any], source: str = "<site>") -> CollectConfig:
    """Validate a ``[collect]`` mapping; ConfigError names the bad field."""
    try:
        return CollectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, source, prefix="collect")) from exc


def load_collect_site(path: str | Path) -> tuple[Site, CollectConfig, Path]:
    """Read a site file with its ``[collect]`` section.

    Parameters
    ----------
    path : str or pathlib.Path
        The site file (TOML).

    Returns
    -------
    (Site, CollectConfig, pathlib.Path)
        The site, the collector configuration (defaults when the section is
        absent) and the status file path.

    Raises
    ------
    ConfigError
        If the file cannot be read or a field is invalid.
    """
    file = Path(path)
    site, sections = read_site_file(file)
    collect = sections.get("collect", {})
    config = parse_collect(collect, str(file))
    state = (
        file.parent / config.state_file
        if config.state_file
        else file.parent / f".collect-{site.site.id}.json"
    )
    return site, config, state
