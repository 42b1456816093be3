"""Shared test fixtures and helpers.

Servers (PostgreSQL, Mosquitto) are used for real. Outside CI a test that
needs an absent server is skipped with the reason; in CI (``CI=true``) it
fails instead, so a broken environment can never pass as green.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PARK = REPO_ROOT / "data" / "citylearn_2022_phase_1"


def in_ci() -> bool:
    """True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def server_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP server accepts connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (outside CI) or fail (in CI) the calling test if the server is down."""
    if server_reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


@pytest.fixture
def sample_park_dir() -> Path:
    """The CityLearn 2022 phase-1 sample park shipped in the repository."""
    return SAMPLE_PARK


@pytest.fixture
def postgres_server() -> str:
    """Connection URL of the local PostgreSQL server (skips/fails if absent)."""
    host = os.environ.get("BITGARAM_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("BITGARAM_TEST_PG_PORT", "5432"))
    require_server("PostgreSQL", host, port)
    user = os.environ.get("BITGARAM_TEST_PG_USER", "postgres")
    return os.environ.get("BITGARAM_TEST_PG_URL", f"postgresql://{user}@{host}:{port}/test")


@pytest.fixture
def mqtt_server() -> tuple[str, int]:
    """(host, port) of the local Mosquitto broker (skips/fails if absent)."""
    host = os.environ.get("BITGARAM_TEST_MQTT_HOST", "127.0.0.1")
    port = int(os.environ.get("BITGARAM_TEST_MQTT_PORT", "1883"))
    require_server("Mosquitto", host, port)
    return host, port


#: ``bitgaram ARGS`` run in this process: (exit code, stdout, stderr).
CliMain = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def bitgaram_main(capsys: pytest.CaptureFixture[str]) -> CliMain:
    """Run ``bitgaram ARGS`` through the console script's own entry point.

    Same error handling and exit codes as the installed command, without a new process per
    call: returns (exit code, stdout, stderr).
    """
    from bitgaram.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        saved = sys.argv
        sys.argv = ["bitgaram", *args]
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = saved
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
