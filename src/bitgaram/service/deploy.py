"""systemd unit files for a park's machines (``bitgaram deploy systemd``).

:func:`systemd_units` returns the units as text, keyed by file name:

- ``bitgaram.service``: ``bitgaram run --site <file>``; SIGTERM drains within
  ``TimeoutStopSec``; restarted by systemd if the process itself dies (the supervisor inside
  restarts single components);
- ``bitgaram-backup.service`` + ``bitgaram-backup.timer``: a nightly ``bitgaram store backup``;
- with ``dask_scheduler``: ``bitgaram-dask-scheduler.service`` and
  ``bitgaram-dask-worker.service`` for fleet runs on several machines.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class UnitOptions:
    """What the units need to know.

    Attributes
    ----------
    site_file : pathlib.Path
        The site file (absolute).
    workdir : pathlib.Path
        Working directory: the embedded store and state files live here.
    user : str
        System user the service runs as.
    bin_dir : pathlib.Path
        Folder of the ``bitgaram`` and ``dask`` executables (the virtual environment's ``bin``).
    store : str or None
        Store URL (``BITGARAM_DATABASE_URL``); None: the site file's ``[service] store``.
    backup_dir : pathlib.Path
        Where the nightly backups go.
    dask_scheduler : str or None
        ``host:port`` of the Dask scheduler for fleet runs (None: no Dask units).
    dask_threads : int
        Threads per Dask worker.
    """

    site_file: Path
    workdir: Path
    user: str = "bitgaram"
    bin_dir: Path = Path(sys.executable).parent
    store: str | None = None
    backup_dir: Path = Path("/var/backups/bitgaram")
    dask_scheduler: str | None = None
    dask_threads: int = 2


def _hardening(o: UnitOptions, writable: list[Path]) -> str:
    paths = " ".join(str(p) for p in writable)
    return (
        "NoNewPrivileges=yes\nPrivateTmp=yes\nProtectSystem=strict\nProtectHome=read-only\n"
        f"ReadWritePaths={paths}\n"
    )


def systemd_units(o: UnitOptions) -> dict[str, str]:
    """The unit files for one site (see the module docstring)."""
    env = f"Environment=BITGARAM_DATABASE_URL={o.store}\n" if o.store else ""
    common = (
        f"User={o.user}\nGroup={o.user}\nWorkingDirectory={o.workdir}\n{env}"
        "Environment=PYTHONUNBUFFERED=1\n"
    )
    units = {
        "bitgaram.service": (
            "[Unit]\nDescription=bitgaram park service (collect, control, API)\n"
            "Wants=network-online.target\nAfter=network-online.target postgresql.service "
            "mosquitto.service\n\n"
            f"[Service]\nType=exec\n{common}"
            f"ExecStart={o.bin_dir / 'bitgaram'} run --site {o.site_file}\n"
            "KillSignal=SIGTERM\nTimeoutStopSec=15\nRestart=on-failure\nRestartSec=5\n"
            f"{_hardening(o, [o.workdir])}\n[Install]\nWantedBy=multi-user.target\n"
        ),
        "bitgaram-backup.service": (
            "[Unit]\nDescription=bitgaram nightly store backup\n\n"
            f"[Service]\nType=oneshot\n{common}"
            f"ExecStartPre=/usr/bin/mkdir -p {o.backup_dir}\n"
            f"ExecStart=/bin/sh -c '{o.bin_dir / 'bitgaram'} store backup --site {o.site_file} "
            f"--out {o.backup_dir}/bitgaram-$(date -u +%%Y%%m%%dT%%H%%M%%SZ).backup'\n"
            f"{_hardening(o, [o.workdir, o.backup_dir])}"
        ),
        "bitgaram-backup.timer": (
            "[Unit]\nDescription=bitgaram nightly store backup\n\n"
            "[Timer]\nOnCalendar=*-*-* 02:30:00\nPersistent=true\n\n"
            "[Install]\nWantedBy=timers.target\n"
        ),
    }
    if o.dask_scheduler:
        host, _, port = o.dask_scheduler.rpartition(":")
        units["bitgaram-dask-scheduler.service"] = (
            "[Unit]\nDescription=Dask scheduler for bitgaram fleet runs\n"
            "After=network-online.target\n\n"
            f"[Service]\nType=exec\n{common}"
            f"ExecStart={o.bin_dir / 'dask'} scheduler --host {host} --port {port} "
            "--no-dashboard\nRestart=on-failure\nRestartSec=5\n\n"
            "[Install]\nWantedBy=multi-user.target\n"
        )
        units["bitgaram-dask-worker.service"] = (
            "[Unit]\nDescription=Dask worker for bitgaram fleet runs\n"
            "After=network-online.target\n\n"
            f"[Service]\nType=exec\n{common}"
            f"ExecStart={o.bin_dir / 'dask'} worker tcp://{o.dask_scheduler} --nworkers 1 "
            f"--nthreads {o.dask_threads} --no-dashboard\nRestart=on-failure\nRestartSec=5\n\n"
            "[Install]\nWantedBy=multi-user.target\n"
        )
    return units
