"""The shutdown deadline: a thread that ignores the stop does not hold the process up."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest

from bitgaram.service.config import load_service_site
from bitgaram.service.deadline import OVERRUN_EXIT, ShutdownDeadline
from bitgaram.service.run import Service

SITE = """\
[site]
id = "deadline-park"
name = "Deadline park"
timezone = "Asia/Seoul"

[service]
store = "park.duckdb"
drain_s = 0.3

[service.admin]
port = 0

[service.api]
enabled = false
"""


class Exits:
    """Stands in for ``os._exit``: records the code, then frees the stuck thread."""

    def __init__(self, release: threading.Event) -> None:
        self.codes: list[int] = []
        self.release = release

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self.release.set()


def stuck_here(release: threading.Event) -> None:
    """Blocks until released (the stack the deadline must show)."""
    release.wait(30)


class StuckInAThread:
    """A component whose work sits in a thread that never looks at the stop."""

    name = "stuck"

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def ready(self) -> bool:
        return True

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(stuck_here, self.release)


def test_a_thread_stuck_after_the_stop_is_ended_by_the_deadline_with_its_stack(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "park.toml").write_text(SITE, encoding="utf-8")
    release = threading.Event()
    exits = Exits(release)
    service = Service(load_service_site(tmp_path / "park.toml"), extra=(StuckInAThread(release),))
    service.deadline = ShutdownDeadline(1.0, exit=exits)

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        while service.admin_url is None:
            await asyncio.sleep(0.02)
        service.stop.set()
        await task

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="bitgaram.service.deadline"):
        asyncio.run(scenario())
    # The drain (0.3 s) cancelled the component and the store was closed, but its thread
    # still held the exit up when the deadline (1 s) came: a clean exit, with the stack.
    assert exits.codes == [0]
    assert time.monotonic() - started < 10
    record = next(r for r in caplog.records if "overran" in r.getMessage())
    assert record.store_closed is True  # type: ignore[attr-defined]
    stacks = record.threads  # type: ignore[attr-defined]
    assert any("stuck_here" in stack for stack in stacks.values()), stacks


@pytest.mark.parametrize(("closed", "code"), [(True, 0), (False, OVERRUN_EXIT)])
def test_the_deadline_fires_on_time_with_the_code_of_the_store_state(
    closed: bool, code: int
) -> None:
    release = threading.Event()
    exits = Exits(release)
    deadline = ShutdownDeadline(0.3, exit=exits)
    if closed:
        deadline.closed()
    deadline.arm()
    assert not release.wait(0.1) and exits.codes == []
    assert release.wait(5)
    assert exits.codes == [code] and deadline.fired


def test_a_process_that_exits_in_time_never_sees_the_deadline() -> None:
    release = threading.Event()
    exits = Exits(release)
    ShutdownDeadline(60, exit=exits)  # not armed: no stop came
    assert not release.wait(0.2) and exits.codes == []
