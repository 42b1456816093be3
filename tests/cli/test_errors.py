"""Usage errors are one line and exit code 2; help shows every bracketed word of its text."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer

from bitgaram.cli import USAGE_EXIT_CODE, _register, app

#: The ``bitgaram_main`` fixture (tests/conftest.py): (exit code, stdout, stderr).
CliMain = Callable[[list[str]], tuple[int, str, str]]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nosuchcmd"], "No such command 'nosuchcmd'"),
        (["query", "--resolution"], "Option '--resolution' requires an argument"),
        (["simulate", "run"], "Missing option '--out'"),
        (["query", "--resolution", "7X"], "'7X' is not one of"),
        (["site", "show", "--no-such-flag"], "No such option: --no-such-flag"),
        (["park", "run", "--days", "40"], "--days"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(
    args: list[str], expected: str, bitgaram_main: CliMain
) -> None:
    code, out, err = bitgaram_main(args)
    assert code == USAGE_EXIT_CODE == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "--help" in lines[0]  # where to look next
    assert "Traceback" not in err + out


def test_console_script_prints_no_traceback() -> None:
    """The installed ``bitgaram`` script itself (Typer raises its own click exceptions)."""
    bitgaram = str(Path(sys.executable).with_name("bitgaram"))
    done = subprocess.run([bitgaram, "nosuchcmd"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "Traceback" not in done.stderr and "No such command" in done.stderr


def test_domain_errors_keep_their_exit_code(
    tmp_path: Path,
    bitgaram_main: CliMain,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BITGARAM_DATABASE_URL", raising=False)
    store = str(tmp_path / "empty.duckdb")
    code, _, err = bitgaram_main(["site", "show", "--store", store])
    assert code == 4  # StoreError: no site stored
    assert err.count("\n") == 1 and "bitgaram init --site FILE" in err


def _commands(group: typer.core.TyperGroup, path: str) -> Iterator[tuple[str, object]]:
    for name, command in group.commands.items():
        sub = f"{path} {name}"
        if hasattr(command, "commands"):
            yield from _commands(command, sub)  # type: ignore[arg-type]
        else:
            yield sub, command


def test_help_shows_every_bracketed_word(bitgaram_main: CliMain) -> None:
    """Rich markup would swallow ``[kW]``-style words of option help; plain help keeps them."""
    _register()
    root = typer.main.get_command(app)
    checked = 0
    for path, command in _commands(root, "bitgaram"):  # type: ignore[arg-type]
        texts = [getattr(p, "help", None) or "" for p in command.params]  # type: ignore[attr-defined]
        brackets = {b for t in texts for b in re.findall(r"\[[^\]\s]{1,20}\]", t)}
        if not brackets:
            continue
        code, out, _ = bitgaram_main([*path.split()[1:], "--help"])
        assert code == 0
        flat = " ".join(out.split())
        for word in brackets:
            assert word in flat, f"`{path} --help` lost {word}"
            checked += 1
    assert checked >= 10
