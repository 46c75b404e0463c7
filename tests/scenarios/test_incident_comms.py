"""Issue 5's promise, end to end with a real Alertmanager.

An incident automation cannot fix ends up as ONE PagerDuty incident with the story of
what was tried; the duplicate pages were silenced (in the real Alertmanager) while
remediator tried; the channel got the incident, update and resolution messages; and
when the alert resolves, PagerDuty gets a resolve with the same dedup key.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.model import ExecutionStatus
from remediator.testing.fake_kube import FakeKubeServer
from tests.realbin import start_alertmanager
from tests.scenarios.conftest import auth
from tests.scenarios.daemon import wait_until

RULE = """
rules:
  - name: restart-checkout
    severity: P1
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    verify: {rollout_complete_within: 2m}
    silence: {}
    notify: {channel: ops}
    on_failure:
      - escalate: {to: pagerduty}
"""


async def am_silences(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/api/v2/silences") as r:
        return list(await r.json())


async def timers_run(app: Application, timeout_s: float = 60.0) -> None:
    """Every timer due at the clock's now has run (the scheduler runs them in the background, as soon
    as the machine lets it: wait for that, not for a fixed time)."""
    async with asyncio.timeout(timeout_s):
        while await app.scheduler.due_now():
            app.scheduler.wake()
            await asyncio.sleep(0.02)
    await app.drained()


async def test_unfixable_incident_pages_once_silences_duplicates_and_tells_the_channel(
    settings: Settings,
    tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages: list[dict[str, Any]] = []
    messages: list[str] = []

    async def events_api(request: web.Request) -> web.Response:
        pages.append(await request.json())
        return web.json_response({"status": "success", "dedup_key": pages[-1]["dedup_key"]}, status=202)

    async def slack(request: web.Request) -> web.Response:
        messages.append((await request.json())["text"])
        return web.Response(text="ok")

    outside = web.Application()
    outside.router.add_post("/v2/enqueue", events_api)
    outside.router.add_post("/slack", slack)
    server = await aiohttp_server(outside)
    monkeypatch.setenv("TEST_PD_KEY", "R0UTINGKEY0123456789abcdef012345")
    monkeypatch.setenv("TEST_SLACK_URL", str(server.make_url("/slack")))

    rules_dir = tmp_path / "comms-rules"
    rules_dir.mkdir()
    (rules_dir / "r.yaml").write_text(textwrap.dedent(RULE))
    clock = FakeClock(datetime.now(UTC), autojump=False)  # real Alertmanager: stay near real time
    async with start_alertmanager(tmp_path) as am, FakeKubeServer(clock=clock.now, rollout="manual") as kube:
        kube.add_deployment("shop", "checkout", image="checkout:v2")
        data = settings.model_dump()
        data["kubernetes"]["kubeconfig"] = kube.write_kubeconfig(tmp_path / "kc")
        data["rules"] = [rules_dir]
        data["alertmanager"] = {"url": am.url}
        data["pagerduty"]["routing_key"] = {"env": "TEST_PD_KEY"}
        data["pagerduty"]["events_url"] = str(server.make_url("/v2/enqueue"))
        data["notify"] = {"channels": {"ops": {"kind": "slack", "url": {"env": "TEST_SLACK_URL"}}}}
        data["http"]["public_url"] = "http://remediator.example:8080"
        async with open_app(Settings.model_validate(data), clock=clock) as app:
            client = await aiohttp_client(build_web_app(app.api_state()))
            labels = {"alertname": "HighErrorRate", "namespace": "shop", "deployment": "checkout"}
            alert = {
                "status": "firing",
                "labels": labels,
                "annotations": {"value": "42", "summary": "checkout 5xx"},
                "startsAt": clock.now().isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "fp-checkout",
            }
            body = {"version": "4", "groupKey": "g", "status": "firing", "alerts": [alert]}
            assert (await client.post("/webhook/alertmanager", json=body, headers=auth())).status == 202
            await app.processor.drained()
            await clock.run(20)

            # While remediator verifies, the alert is silenced in the real Alertmanager.
            silences = await am_silences(am.url)
            [active] = [s for s in silences if s["status"]["state"] == "active"]
            assert active["createdBy"] == "remediator"
            assert "restart-checkout" in active["comment"] and "/api/v1/executions/" in active["comment"]
            assert {(m["name"], m["value"]) for m in active["matchers"]} == set(labels.items())

            # The rollout never completes: not verified in 2m -> failed -> one page with the story.
            await clock.run(150)
            await app.drained()
            [ex] = await app.journal.executions()
            assert ex.status is ExecutionStatus.FAILED and "rollout not complete" in (ex.error or "")
            states = [s["status"]["state"] for s in await am_silences(am.url)]
            assert states == ["expired"], "the silence is lifted when verification ends"
            [page] = pages
            assert (
                page["event_action"] == "trigger"
                and page["routing_key"] == "R0UTINGKEY0123456789abcdef012345"
            )
            assert page["dedup_key"] == "remediator/restart-checkout/shop/Deployment/checkout"
            assert page["payload"]["severity"] == "critical"
            assert (
                "rollout_restart" in page["payload"]["summary"]
                and "not verified" in page["payload"]["summary"]
            )
            assert page["payload"]["custom_details"]["tried"] == "rollout_restart"
            assert page["payload"]["custom_details"]["execution"].endswith(f"/api/v1/executions/{ex.id}")

            # The same alert re-sent (Alertmanager repeat): no second page.
            assert (await client.post("/webhook/alertmanager", json=body, headers=auth())).status == 202
            await app.drained()
            assert len(pages) == 1

            # Resolution: PagerDuty resolve with the same key, and the channel hears it.
            resolved = {**alert, "status": "resolved", "endsAt": clock.now().isoformat()}
            body = {"version": "4", "groupKey": "g", "status": "resolved", "alerts": [resolved]}
            assert (await client.post("/webhook/alertmanager", json=body, headers=auth())).status == 202
            await app.drained()
            assert [p["event_action"] for p in pages] == ["trigger", "resolve"]
            assert pages[1]["dedup_key"] == page["dedup_key"]
            # The incident's close (a journaled timer) tells the channel, once.
            await wait_until("the resolution message", lambda: len(messages) >= 3, timeout_s=60)
            await timers_run(app)  # every timer due now has finished: a second message would be here
            assert len(messages) == 3, json.dumps(messages, indent=1)
            incident, update, resolution = messages
            assert "checkout" in incident and "rollout_restart" in incident
            assert "failed" in update and "rollout not complete" in update
            assert "resolved" in resolution.lower() and "rollout_restart" in resolution
