"""The revisions remediator made are in the journal: a restarted daemon still never reverts its mitigation.

The whole daemon against the fake cluster (the scenario conftest's `checkout`, deployed 20 minutes ago
over v1). RateLimited switches it to queue mode, a new ReplicaSet revision of remediator's. The daemon
stops and starts again, then 5xx arrives: the rollback must not take the queue mode away, which it
would if remediator only remembered its revisions in memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth


async def post(app: Application, client: TestClient, alert: dict[str, object]) -> None:
    r = await client.post("/webhook/alertmanager", data=am_payload(alert), headers=auth())
    assert r.status == 202, await r.text()
    await app.processor.drained()
    await app.drained()


def checkout_env(fake: FakeKubeServer) -> dict[str, str]:
    dep = fake.get("Deployment", "shop", "checkout")
    assert dep is not None
    [app] = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in app.get("env") or []}


async def test_a_restarted_daemon_still_knows_its_own_revisions(
    settings: Settings,
    fake_kube: FakeKubeServer,
    clock: FakeClock,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    async with open_app(settings, clock=clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))
        await post(app, client, am_alert("RateLimited", deployment="checkout", value="12"))
        assert checkout_env(fake_kube)["RATE_LIMIT_MODE"] == "queue"
    clock.advance(60)
    fake_kube.complete_rollouts()
    async with open_app(settings, clock=clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))
        await post(app, client, am_alert("HighErrorRate", deployment="checkout", value="42"))
        rollback = [d for d in await app.journal.decisions() if d["rule"] == "rollback-on-5xx"]
        assert [d["outcome"] for d in rollback] == ["not_applicable"]
        assert rollback[0]["reason"].startswith("would_revert_mitigation: rolling shop/Deployment/checkout")
        assert "RATE_LIMIT_MODE='queue'" in rollback[0]["reason"]
    assert checkout_env(fake_kube)["RATE_LIMIT_MODE"] == "queue"
    dep = fake_kube.get("Deployment", "shop", "checkout")
    assert dep is not None and dep["spec"]["template"]["spec"]["containers"][0]["image"] == "checkout:v2"
