"""The ``[service]`` section of a site file: what ``bitgaram run`` starts.

Example (with a ``[collect]`` section for the collectors, see
:mod:`bitgaram.collect.config`)::

    [service]
    store = "park.duckdb"        # default: --store, BITGARAM_DATABASE_URL, bitgaram.duckdb

    [service.admin]              # /metrics, /healthz, /readyz, /components (no auth: keep local)
    host = "127.0.0.1"
    port = 9108

    [service.api]                # the web API and dashboard
    enabled = true
    port = 8000

    [service.control]            # the live control loop (MQTT in and out)
    enabled = true
    target_kw = 900
    interval_s = 900

    [service.restart]            # back-off between restarts of a failed component
    initial_s = 0.5
    max_s = 30

The collector runs when the file has a ``[collect]`` section (``[service.collect] enabled =
false`` turns it off). The control loop uses the collector's broker unless ``[service.control]``
names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bitgaram.collect.config import CollectConfig, parse_collect
from bitgaram.errors import ConfigError
from bitgaram.site import Site, read_site_file


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AdminConfig(_Model):
    """The supervisor's own port: metrics, liveness, readiness, component control."""

    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)


class ApiConfig(_Model):
    """The web API and dashboard."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)


class ControlConfig(_Model):
    """The live control loop."""

    enabled: bool = False
    target_kw: float | None = Field(default=None, gt=0)
    interval_s: float = Field(default=900.0, gt=0)
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    prefix: str | None = None
    client_id: str | None = None


class CollectSwitch(_Model):
    """Turn the collector off although the file has a ``[collect]`` section."""

    enabled: bool = True


class RestartConfig(_Model):
    """Back-off between restarts of a failed component [s]."""

    initial_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)
    #: A component that ran this long before failing starts again at ``initial_s``.
    reset_after_s: float = Field(default=60.0, gt=0)


class LogConfig(_Model):
    """Log format and level."""

    json_lines: bool = Field(default=True, alias="json")
    level: str = "INFO"


class ServiceSection(_Model):
    """The whole ``[service]`` section."""

    store: str | None = None
    drain_s: float = Field(default=8.0, gt=0, le=60)
    admin: AdminConfig = AdminConfig()
    api: ApiConfig = ApiConfig()
    control: ControlConfig = ControlConfig()
    collect: CollectSwitch = CollectSwitch()
    restart: RestartConfig = RestartConfig()
    log: LogConfig = LogConfig()


@dataclass(frozen=True)
class ServiceConfig:
    """A site file read for the service.

    Attributes
    ----------
    site : Site
    service : ServiceSection
    collect : CollectConfig or None
        ``None`` when the collector is off.
    path : pathlib.Path
        The site file.
    """

    site: Site
    service: ServiceSection
    collect: CollectConfig | None
    path: Path

    @property
    def collect_state(self) -> Path:
        """The collector's status file (what ``bitgaram collect status`` reads)."""
        c = self.collect
        name = c.state_file if c is not None and c.state_file else None
        return self.path.parent / (name or f".collect-{self.site.site.id}.json")


def _errors(exc: ValidationError, source: str, section: str) -> ConfigError:
    lines = [
        f"{source}: {section}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        for err in exc.errors()
    ]
    return ConfigError("\n".join(lines))


def parse_service(data: dict[str, Any], source: str = "<site>") -> ServiceSection:
    """Validate a ``[service]`` mapping; ConfigError names the bad field."""
    try:
        return ServiceSection.model_validate(data)
    except ValidationError as exc:
        raise _errors(exc, source, "service") from exc


def load_service_site(path: str | Path) -> ServiceConfig:
    """Read a site file with its ``[service]`` and ``[collect]`` sections.

    Raises
    ------
    ConfigError
        If the file cannot be read or a field is invalid (the message names it), or the control
        loop is enabled without a ``target_kw``.
    """
    file = Path(path)
    site, sections = read_site_file(file)
    service = parse_service(sections.get("service", {}), str(file))
    collect_data = sections.get("collect")
    collect = None
    if collect_data is not None and service.collect.enabled:
        collect = parse_collect(collect_data, str(file))
    if service.control.enabled and service.control.target_kw is None:
        raise ConfigError(f"{file}: service.control.target_kw: required when the loop is enabled")
    return ServiceConfig(site, service, collect, file)
