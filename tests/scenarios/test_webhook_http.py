"""The webhook's HTTP contract: auth, 4xx for bad input with the journal unchanged, 503 to be retried."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import HttpSettings, Settings
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import auth, fixture_body, metric

Client = Callable[..., Awaitable[TestClient]]


async def journal_rows(daemon: Application) -> int:
    return await daemon.journal.count("payloads")


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic dXNlcjpwYXNz"}, 401)],
)
async def test_webhook_needs_the_bearer_token(
    client: TestClient, daemon: Application, examples_dir: Path, headers: dict[str, str], status: int
) -> None:
    resp = await client.post(
        "/webhook/alertmanager", data=fixture_body(examples_dir, "firing.json"), headers=headers
    )
    assert resp.status == status
    body = await resp.json()
    assert body["error"] == "missing or wrong bearer token"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert await journal_rows(daemon) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{oops", "malformed JSON"),
        (b'"a string"', "must be a JSON object"),
        (
            b'{"version": "2", "groupKey": "g", "status": "firing", "alerts": []}',
            "unsupported webhook version",
        ),
        (b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": "none"}', "alerts"),
        (b"", "malformed JSON"),
    ],
)
async def test_bad_input_gets_4xx_and_leaves_the_journal_unchanged(
    client: TestClient, daemon: Application, body: bytes, reason: str
) -> None:
    resp = await client.post("/webhook/alertmanager", data=body, headers=auth())
    assert resp.status == 400
    got = await resp.json()
    assert reason in got["error"] and "\n" not in got["error"]
    assert await journal_rows(daemon) == 0
    text = await (await client.get("/metrics")).text()
    assert metric(text, "remediator_webhook_requests_total", route="alertmanager", code="400") == 1


async def test_body_over_the_limit_is_413_with_reason(
    settings: Settings, aiohttp_client: Client, examples_dir: Path, clock: FakeClock
) -> None:
    small = settings.model_copy(update={"http": HttpSettings(max_body_bytes=2048)})
    async with open_app(small, clock=clock) as daemon:
        client = await aiohttp_client(build_web_app(daemon.api_state()))
        big = fixture_body(examples_dir, "firing.json") + b" " * 4096
        resp = await client.post("/webhook/alertmanager", data=big, headers=auth())
        assert resp.status == 413
        assert "too large" in (await resp.json())["error"]
        assert await journal_rows(daemon) == 0


async def test_overloaded_journal_answers_503_so_alertmanager_retries(
    settings: Settings, aiohttp_client: Client, examples_dir: Path, clock: FakeClock
) -> None:
    tight = settings.model_copy(
        update={"journal": settings.journal.model_copy(update={"max_backlog_payloads": 2})}
    )
    async with open_app(tight, clock=clock, process=False) as daemon:
        client = await aiohttp_client(build_web_app(daemon.api_state()))
        body = fixture_body(examples_dir, "firing.json")
        codes = [
            (await client.post("/webhook/alertmanager", data=body, headers=auth())).status for _ in range(3)
        ]
        assert codes == [202, 202, 503]
        assert await journal_rows(daemon) == 2


async def test_unwritable_journal_answers_503_and_counts_it(
    client: TestClient, daemon: Application, examples_dir: Path
) -> None:
    await daemon.journal._call(lambda db: db.execute("PRAGMA query_only = ON"))
    try:
        resp = await client.post(
            "/webhook/alertmanager", data=fixture_body(examples_dir, "firing.json"), headers=auth()
        )
    finally:
        await daemon.journal._call(lambda db: db.execute("PRAGMA query_only = OFF"))
    assert resp.status == 503
    assert "journal unavailable" in (await resp.json())["error"]
    text = await (await client.get("/metrics")).text()
    assert metric(text, "remediator_journal_errors_total") == 1


async def test_health_and_readiness(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["kubernetes"] == "ok" and ready["checks"]["rules"] == "4 loaded"


async def test_alerts_accepted_before_a_stop_are_processed_once_after_restart(
    settings: Settings,
    aiohttp_client: Client,
    fake_kube: FakeKubeServer,
    examples_dir: Path,
    clock: FakeClock,
) -> None:
    body = fixture_body(examples_dir, "grouped-auth-failures.json")
    async with open_app(settings, clock=clock, process=False) as daemon:
        client = await aiohttp_client(build_web_app(daemon.api_state()))
        for _ in range(2):
            assert (await client.post("/webhook/alertmanager", data=body, headers=auth())).status == 202
        await client.close()
        assert daemon.journal.backlog() == 2
    assert fake_kube.writes == [], "nothing processed before the stop"

    async with open_app(settings, clock=clock) as daemon:
        await daemon.drained()
        assert await daemon.journal.decision_counts() == {"act": 3, "duplicate": 3}
    patches = [w for w in fake_kube.writes if w.method == "PATCH"]
    assert len(patches) == 3

    async with open_app(settings, clock=clock) as daemon:
        await daemon.drained()
        assert await daemon.journal.count("decisions") == 6, "processed once: nothing replayed"
    assert len([w for w in fake_kube.writes if w.method == "PATCH"]) == 3
