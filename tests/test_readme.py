"""The README's Usage and Deployment sections, run line by line, in order, in an empty directory.

Every ``bitgaram ...`` line of their code blocks is taken from README.md as
written and run on the shipped sample data (``data/`` linked, ``examples/``
copied into the temporary directory), and must exit 0. Short commands run in
this process through :func:`bitgaram.cli.main` (the console script's own entry
point: same error handling and exit codes, without paying the import time per
line). Long runs are bounded by options appended to the README line
(:data:`BOUNDED`); the servers (``collect run``, ``control run``, ``serve``, ``run``,
``devices run``) run as child processes that the test starts, checks and stops with
SIGTERM. The only change to the shipped files: the copied ``examples/park.toml`` gets free
ports for ``bitgaram run``'s admin port and API (the defaults may be taken on a test machine).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The ``bitgaram_main`` fixture (tests/conftest.py): (exit code, stdout, stderr).
CliMain = Callable[[list[str]], tuple[int, str, str]]
README = ROOT / "README.md"

#: Options appended to a README line so the test finishes in minutes; the line's own
#: options stay (click keeps the last value of a repeated option).
BOUNDED: dict[tuple[str, ...], list[str]] = {
    ("forecast", "backtest"): ["--warmup-days", "330", "--refit-every", "2000"],
    ("citylearn", "run"): ["--days", "7"],
    ("park", "run"): ["--days", "2", "-c", "none", "-c", "rule"],
    ("demo",): ["--days", "1"],
    ("synth",): ["--tenants", "5", "--days", "7"],
}

#: Lines run as servers: started, checked, then stopped with SIGTERM (must exit 0).
SERVERS = {("collect", "run"), ("control", "run"), ("serve",), ("run",), ("devices", "run")}

#: The README sections whose lines the walkthrough runs, in this order.
WALKED = ("Usage", "Deployment")


def usage_commands(readme: Path = README, section_name: str = "Usage") -> list[list[str]]:
    """The ``bitgaram`` lines of one README section, as argument lists (comments cut)."""
    text = readme.read_text(encoding="utf-8")
    section = text.split(f"\n## {section_name}", 1)[1].split("\n## ", 1)[0]
    out = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                assert words[0] == "bitgaram", (
                    f"README {section_name} line is not a bitgaram command: {line}"
                )
                out.append(words[1:])
    return out


def _key(args: list[str], table: dict[tuple[str, ...], list[str]] | set[tuple[str, ...]]) -> bool:
    return any(tuple(args[: len(k)]) == k for k in table)


def _bounded(args: list[str]) -> list[str]:
    for key, extra in BOUNDED.items():
        if tuple(args[: len(key)]) == key:
            return [*args, *extra]
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], bool], proc: subprocess.Popen[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if check():
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _serve_check(port: int, log: Path) -> Callable[[], bool]:
    """The API answers, and lists both sites to the first-start admin token.

    Not on a terminal, ``serve`` writes that token to ``bitgaram-admin.secret`` beside
    its log, never to the log itself.
    """
    secret = log.with_name("bitgaram-admin.secret")

    def check() -> bool:
        assert "bg_" not in log.read_text(encoding="utf-8"), "a token reached the log"
        if not secret.exists():
            return False
        match = re.search(r"api_token: (bg_\S+)", secret.read_text(encoding="utf-8"))
        if match is None:
            return False
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/sites",
            headers={"Authorization": f"Bearer {match.group(1)}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.loads(response.read())
        return {s["id"] for s in body["items"]} == {"example-park", "fontana"}

    return check


def _service_ports(site: Path) -> None:
    """Give ``bitgaram run`` free ports for its admin port and API in the copied site file."""
    with site.open("a", encoding="utf-8") as out:
        out.write(
            f"\n[service.admin]\nport = {_free_port()}\n\n[service.api]\nport = {_free_port()}\n"
        )


def _admin_ready(site: Path) -> Callable[[], bool]:
    """``bitgaram run``'s admin port answers ``/readyz`` with 200 (every component ready)."""
    port = re.findall(r"\[service\.admin\]\nport = (\d+)", site.read_text(encoding="utf-8"))[-1]

    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                return bool(r.status == 200)
        except urllib.error.HTTPError:
            return False

    return check


def _run_server(args: list[str], workdir: Path, env: dict[str, str]) -> None:
    """Start a long-running line, wait until it works, stop it with SIGTERM; it must exit 0."""
    log = workdir / f"server-{args[0]}.log"
    extra: list[str] = []
    check: Callable[[], bool]
    if args[:2] == ["collect", "run"]:
        check = lambda: "collecting for site" in log.read_text(encoding="utf-8")  # noqa: E731
    elif args[:2] == ["devices", "run"]:
        extra = ["--ocpp-port", str(_free_port())]
        check = lambda: "devices of 'example-park'" in log.read_text(encoding="utf-8")  # noqa: E731
    elif args[:1] == ["run"]:
        check = _admin_ready(workdir / "examples" / "park.toml")
    elif args[:2] == ["control", "run"]:
        extra = ["--interval", "2", "--ticks", "2"]  # two 2-second ticks, then it stops itself
        check = lambda: "control loop on" in log.read_text(encoding="utf-8")  # noqa: E731
    else:
        port = _free_port()
        extra = ["--port", str(port)]
        check = _serve_check(port, log)
    bitgaram = str(Path(sys.executable).with_name("bitgaram"))
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [bitgaram, *args, *extra], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            started = _wait(check, proc, timeout=120)
            if args[:2] != ["control", "run"]:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text(encoding="utf-8")
    assert started, f"`bitgaram {shlex.join(args)}` did not start:\n{text}"
    assert code == 0, f"`bitgaram {shlex.join(args)}` exited {code}:\n{text}"


def test_usage_lines_are_found() -> None:
    commands = usage_commands()
    assert len(commands) >= 20
    assert commands[0][:2] == ["init", "--site"]
    deployment = usage_commands(section_name="Deployment")
    assert ["run", "--site", "examples/park.toml"] in deployment
    assert any(a[:2] == ["devices", "cbl"] for a in deployment)
    for args in commands + deployment:  # every file a line names is shipped
        for word in args:
            if word.startswith(("examples/", "data/")):
                assert (ROOT / word).exists(), f"README names {word}, which is not shipped"


@pytest.mark.slow
@pytest.mark.mqtt
def test_readme_usage_runs_in_order(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bitgaram_main: CliMain,
    monkeypatch: pytest.MonkeyPatch,
    mqtt_server: tuple[str, int],
) -> None:
    assert mqtt_server == ("127.0.0.1", 1883), "the README's park.toml uses the local broker"
    (tmp_path / "data").symlink_to(ROOT / "data")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for name in ("BITGARAM_DATABASE_URL", "BITGARAM_SITE", "BITGARAM_SITE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITGARAM_")}
    _service_ports(tmp_path / "examples" / "park.toml")
    timings = []
    for args in [a for name in WALKED for a in usage_commands(section_name=name)]:
        start = time.perf_counter()
        if _key(args, SERVERS):
            _run_server(args, tmp_path, env)
        else:
            code, out, err = bitgaram_main(_bounded(args))
            output = out + err
            assert code == 0, f"`bitgaram {shlex.join(args)}` exited {code}:\n{output}"
        timings.append((time.perf_counter() - start, shlex.join(args)))
    with capsys.disabled():
        for seconds, line in sorted(timings, reverse=True)[:5]:
            print(f"{seconds:6.1f} s  bitgaram {line}")


def test_several_sites_need_a_name(
    tmp_path: Path, bitgaram_main: CliMain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the README's first lines the store has two sites: unnamed, a one-line error."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.delenv("BITGARAM_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    other = (tmp_path / "examples" / "park.toml").read_text(encoding="utf-8")
    other = other.replace('id = "example-park"', 'id = "second-park"')
    other = re.sub(r'"(acme|bestfoods)-(load|pv)"', r'"b-\1-\2"', other)
    (tmp_path / "second.toml").write_text(other, encoding="utf-8")
    for line in ("init --site examples/park.toml", "init --site second.toml"):
        assert bitgaram_main(line.split())[0] == 0
    for line in ("site show", "query --tenant acme", "forecast run", "simulate run --out o"):
        code, out, err = bitgaram_main(line.split())
        output = out + err
        assert code == 2, output
        lines = [t for t in output.splitlines() if t.strip()]
        assert len(lines) == 1, output
        assert "example-park, second-park" in lines[0] and "--site ID" in lines[0]
    code, output, _ = bitgaram_main(["site", "show", "--site", "second-park"])
    assert code == 0 and "b-acme-load" in output
    code, out, err = bitgaram_main(["site", "show", "--site", "nowhere"])
    output = out + err
    assert code == 2 and "'nowhere'" in output and "example-park, second-park" in output
