"""/readyz says ready only when a webhook sent now would be accepted and acted on; /healthz stays cheap."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from remediator.app import Application
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth


async def _ready(client: TestClient) -> tuple[int, dict[str, object]]:
    resp = await client.get("/readyz")
    return resp.status, await resp.json()


async def test_not_ready_while_the_journal_cannot_be_written(daemon: Application, client: TestClient) -> None:
    status, body = await _ready(client)
    assert status == 200 and body["checks"]["journal"] == "ok"  # type: ignore[index]
    await daemon.journal._call(
        lambda db: db.execute("PRAGMA query_only = ON")
    )  # every write now fails, as on a full disk
    try:
        hook = await client.post("/webhook/alertmanager", data=am_payload(am_alert()), headers=auth())
        assert hook.status == 503
        status, body = await _ready(client)
        assert status == 503 and body["failing"] == ["journal"]
        assert "journal write failed" in str(body["checks"]["journal"])  # type: ignore[index]
        assert (await client.get("/healthz")).status == 200  # alive: restarting would not help
    finally:
        await daemon.journal._call(lambda db: db.execute("PRAGMA query_only = OFF"))
    status, _ = await _ready(client)
    assert status == 200


async def test_not_ready_when_the_processor_stopped(daemon: Application, client: TestClient) -> None:
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == "processor"]
    task.cancel()
    await asyncio.sleep(0.01)
    status, body = await _ready(client)
    assert status == 503 and body["failing"] == ["processor"]
    assert str(body["checks"]["processor"]).startswith("stopped")  # type: ignore[index]
    assert (await client.get("/healthz")).status == 200


async def test_not_ready_when_the_configured_cluster_does_not_answer(
    daemon: Application, client: TestClient, fake_kube: FakeKubeServer
) -> None:
    fake_kube.inject(method="GET", path="^/version", status=503, times=20)
    status, body = await _ready(client)
    assert status == 503 and body["failing"] == ["kubernetes"]
    assert str(body["checks"]["kubernetes"]).startswith("unreachable")  # type: ignore[index]
    fake_kube.clear_faults()
    status, body = await _ready(client)
    assert status == 200 and body["checks"]["kubernetes"] == "ok"  # type: ignore[index]
