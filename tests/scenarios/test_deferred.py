"""A transient denial waits for its slot instead of being dropped, and a resolved alert stops the wait.

The whole daemon in-process against the fake cluster, with one action at a time per namespace: while
a restart of `checkout` is in flight, an alert for `search` in the same namespace is recorded as
`deferred`, shows in /metrics, and acts as soon as the first execution ends. An alert that resolves
while it waits is never acted on.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import GuardSettings, Settings
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth, metric

RULES = """
rules:
  - name: restart-on-errors
    severity: P2
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.yaml").write_text(textwrap.dedent(RULES))
    return d


@pytest.fixture
async def one_at_a_time(settings: Settings, clock: FakeClock) -> AsyncIterator[Application]:
    guards = GuardSettings(max_in_flight_per_namespace=1)
    async with open_app(settings.model_copy(update={"guards": guards}), clock=clock) as app:
        yield app


async def decisions(app: Application) -> list[tuple[str, str, str]]:
    rows = reversed(await app.journal.decisions())
    return [((d["target"] or "-").split("/")[-1], d["outcome"], d["reason"]) for d in rows]


async def restarts(kube: FakeKubeServer, name: str) -> int:
    return sum(1 for r in kube.requests if r.method == "PATCH" and r.path.endswith(f"/deployments/{name}"))


async def test_a_busy_namespace_defers_the_next_action_until_the_slot_frees(
    one_at_a_time: Application,
    fake_kube: FakeKubeServer,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    app = one_at_a_time
    client = await aiohttp_client(build_web_app(app.api_state()))
    fake_kube.inject(status=0, method="PATCH", path="/deployments/checkout$", delay=1.0)  # in flight a while
    post: Callable[..., Any] = client.post
    r = await post("/webhook/alertmanager", data=am_payload(am_alert(deployment="checkout")), headers=auth())
    assert r.status == 202
    await asyncio.sleep(0.3)
    r = await post("/webhook/alertmanager", data=am_payload(am_alert(deployment="search")), headers=auth())
    assert r.status == 202
    await app.processor.drained()
    while_busy = await decisions(app)
    assert [(t, o) for t, o, _ in while_busy] == [("checkout", "act"), ("search", "deferred")]
    assert "in namespace 'shop' (max 1)" in while_busy[1][2]
    waiting = await (await client.get("/metrics")).text()
    assert metric(waiting, "remediator_deferred_decisions") == 1
    assert await restarts(fake_kube, "search") == 0
    await app.drained()
    await app.deferrals.idle()
    for _ in range(100):  # the sweep runs as the first execution ends
        if await restarts(fake_kube, "search"):
            break
        await asyncio.sleep(0.05)
    await app.drained()
    after = await decisions(app)
    assert [(t, o) for t, o, _ in after] == [("checkout", "act"), ("search", "deferred"), ("search", "act")]
    assert after[2][2].startswith("after waiting ")
    assert await restarts(fake_kube, "search") == 1
    done = await (await client.get("/metrics")).text()
    assert metric(done, "remediator_deferred_decisions") == 0
    assert metric(done, "remediator_deferrals_total", result="redecided") == 1
    assert metric(done, "remediator_decisions_total", rule="restart-on-errors", outcome="deferred") == 1


async def test_an_alert_that_resolves_while_it_waits_is_never_acted_on(
    one_at_a_time: Application,
    fake_kube: FakeKubeServer,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    app = one_at_a_time
    client = await aiohttp_client(build_web_app(app.api_state()))
    fake_kube.inject(status=0, method="PATCH", path="/deployments/checkout$", delay=1.0)
    for body in (
        am_payload(am_alert(deployment="checkout")),
        am_payload(am_alert(deployment="search")),
        am_payload(am_alert(deployment="search", status="resolved")),
    ):
        assert (await client.post("/webhook/alertmanager", data=body, headers=auth())).status == 202
        await app.processor.drained()
    await app.drained()
    await app.deferrals.idle()
    await asyncio.sleep(0.3)  # a sweep, if one were due, has run
    await app.drained()
    outcomes = [(t, o) for t, o, _ in await decisions(app)]
    assert outcomes == [("checkout", "act"), ("search", "deferred"), ("-", "resolved")]
    [cancelled] = await app.journal.deferrals(status="cancelled")
    assert cancelled.result == "the alert resolved"
    assert await restarts(fake_kube, "search") == 0
