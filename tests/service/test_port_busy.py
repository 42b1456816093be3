"""A real component failure: the API's port is taken; the supervisor retries until it is free."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
from service_helpers import free_port

from bitgaram.service.config import load_service_site
from bitgaram.service.run import Service

SITE = """\
[site]
id = "busy"
name = "Busy port park"
timezone = "Asia/Seoul"

[service]
store = "busy.duckdb"

[service.admin]
port = {admin}

[service.api]
port = {api}

[service.restart]
initial_s = 0.05
max_s = 0.2
"""


def test_api_port_in_use_is_retried_with_backoff_until_free(tmp_path: Path) -> None:
    admin, api = free_port(), free_port()
    site = tmp_path / "park.toml"
    site.write_text(SITE.format(admin=admin, api=api), encoding="utf-8")
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", api))
    blocker.listen()
    service = Service(load_service_site(site))

    async def scenario() -> tuple[dict[str, object], int, dict[str, object]]:
        task = asyncio.create_task(service.run())
        url = f"http://127.0.0.1:{admin}"
        async with httpx.AsyncClient(timeout=5) as client:
            failing: dict[str, object] = {}
            for _ in range(400):
                await asyncio.sleep(0.05)
                try:
                    failing = (await client.get(url + "/components")).json()["api"]
                except httpx.HTTPError:
                    continue
                if int(failing["restarts"]) >= 3:
                    break
            not_ready = (await client.get(url + "/readyz")).status_code
            blocker.close()  # the port comes free: the next restart succeeds
            for _ in range(400):
                await asyncio.sleep(0.05)
                if (await client.get(url + "/readyz")).status_code == 200:
                    break
            health = (await client.get(f"http://127.0.0.1:{api}/api/v1/health")).json()
        service.stop.set()
        await task
        return failing, not_ready, health

    failing, not_ready, health = asyncio.run(scenario())
    assert int(failing["restarts"]) >= 3
    assert "Address already in use" in str(failing["last_error"])
    assert not_ready == 503
    assert health["status"] == "ok"
    assert not (tmp_path / "busy.duckdb.service.json").exists()
