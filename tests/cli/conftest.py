"""CLI test helpers: the registered Typer app and a wide Rich console."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result
from rich.console import Console
from typer.testing import CliRunner

from bitgaram.cli import app

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``bitgaram ARGS...`` in-process; Rich output 200 columns wide, no colours."""
    # Importing a CLI module registers its commands; only the ones under test,
    # so these tests do not pay for every capability's imports.
    from bitgaram.cli import demo, importing

    for module in (importing, demo):
        monkeypatch.setattr(module, "console", Console(width=200, no_color=True, highlight=False))
    monkeypatch.delenv("BITGARAM_DATABASE_URL", raising=False)
    monkeypatch.delenv("BITGARAM_SITE", raising=False)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run
