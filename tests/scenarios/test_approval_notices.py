"""A pending approval tells its approvers what would change, reminds them before it expires, and its
expiry is recorded and told; a re-sent alert does not ask twice."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import Settings
from tests.scenarios.conftest import FIXTURES_NOW, am_alert, am_payload, auth

RULES = """
rules:
  - name: scale-down-checkout
    severity: P2
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{scale: {to: 1, min: 1, max: 4}}]
    guards: {approval: true}
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.yaml").write_text(textwrap.dedent(RULES))
    return d


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FIXTURES_NOW, autojump=False)


@pytest.fixture
async def chat(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[list[tuple[float, str]], TestServer]:
    said: list[tuple[float, str]] = []

    async def post(request: web.Request) -> web.Response:
        said.append((0.0, (await request.json())["text"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/approvers", post)
    return said, await aiohttp_server(app)


@pytest.fixture
async def daemon(
    settings: Settings,
    clock: FakeClock,
    chat: tuple[list[tuple[float, str]], TestServer],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Application]:
    _, server = chat
    monkeypatch.setenv("TEST_APPROVERS_URL", str(server.make_url("/approvers")))
    data = settings.model_dump()
    data["notify"] = {"channels": {"approvers": {"kind": "slack", "url": {"env": "TEST_APPROVERS_URL"}}}}
    data["incidents"] = {"approvals_channel": "approvers", "approval_reminder": "15m"}
    data["guards"]["approval_expiry"] = "1h"
    async with open_app(Settings.model_validate(data), clock=clock) as app:
        yield app


async def test_approvers_are_told_reminded_and_told_of_the_expiry(
    daemon: Application,
    clock: FakeClock,
    chat: tuple[list[tuple[float, str]], TestServer],
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    said, _ = chat
    app = daemon
    client = await aiohttp_client(build_web_app(app.api_state()))
    alert = am_payload(am_alert(deployment="checkout"))
    for _ in range(2):  # Alertmanager re-sends it: still one approval
        assert (await client.post("/webhook/alertmanager", data=alert, headers=auth())).status == 202
        await app.processor.drained()
        await clock.run(60, quiet_s=0.5)
    [approval] = await app.journal.approvals()
    assert approval["status"] == "pending"
    [needed] = [text for _, text in said]
    assert "Approval needed: scale-down-checkout on shop/Deployment/checkout" in needed
    assert "spec.replicas: 2 → 1" in needed, needed
    await clock.run(44 * 60, quiet_s=0.5)  # 45m after it was asked: 15m before it expires
    assert len(said) == 2 and "Approval reminder" in said[1][1]
    await clock.run(16 * 60, quiet_s=0.5)
    assert len(said) == 3 and "Approval expired" in said[2][1]
    [expired] = await app.journal.approvals()
    assert expired["status"] == "expired"
    assert any(a["action"] == "approval_expired" for a in await app.journal.audit())
