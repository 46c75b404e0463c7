"""One /metrics for two processes: the main's families (Metrics(webhooks=False), on a Unix socket) and
the front's webhook families (IntakeMetrics), in one scrape that Prometheus's own parser accepts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from remediator.api.front_metrics import joined_metrics
from remediator.api.proxy import Proxy
from remediator.metrics import IntakeMetrics, Metrics

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@dataclass
class Front:
    client: TestClient[web.Request, web.Application]
    main: Metrics
    intake: IntakeMetrics
    socket: Path


@pytest.fixture
async def front(tmp_path: Path) -> AsyncIterator[Front]:
    main = Metrics(webhooks=False)
    main.declare_rule("restart-on-errors", ("rollout_restart",))
    intake = IntakeMetrics()

    async def main_metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(main.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    upstream = web.Application()
    upstream.router.add_get("/metrics", main_metrics)
    runner = web.AppRunner(upstream, handle_signals=False, access_log=None)
    await runner.setup()
    socket = tmp_path / "main.sock"
    await web.UnixSite(runner, str(socket)).start()
    try:
        async with Proxy(socket_path=socket, max_body_bytes=1 << 20, timeout_s=2.0) as proxy:
            app = web.Application()
            app.router.add_get("/metrics", joined_metrics(proxy=proxy, registry=intake.registry))
            async with TestClient(TestServer(app)) as client:
                yield Front(client=client, main=main, intake=intake, socket=socket)
    finally:
        await runner.cleanup()


def families(text: str) -> list[str]:
    return [f.name for f in text_string_to_metric_families(text)]


async def test_one_scrape_holds_both_processes_families_once(front: Front) -> None:
    front.intake.webhook_requests.labels(route="alertmanager", code="202").inc(3)
    front.intake.alerts_received.labels(source="alertmanager", status="firing").inc(7)
    front.main.decisions.labels(rule="restart-on-errors", action="rollout_restart", outcome="act").inc()
    r = await front.client.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"] == CONTENT_TYPE_LATEST
    text = await r.text()
    names = families(text)
    assert len(names) == len(set(names)), "a family exposed twice fails the whole scrape"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("remediator_webhook_requests_total", (("code", "202"), ("route", "alertmanager")))] == 3
    assert (
        samples[("remediator_alerts_received_total", (("source", "alertmanager"), ("status", "firing")))] == 7
    )
    act = (("action", "rollout_restart"), ("outcome", "act"), ("rule", "restart-on-errors"))
    assert samples[("remediator_decisions_total", act)] == 1
    assert ("remediator_build_info", (("version", __import__("remediator").__version__),)) in samples
    checked = await asyncio.to_thread(
        subprocess.run, [PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr.decode() + checked.stdout.decode()


def test_the_split_declares_every_family_once() -> None:
    """The main without the webhook families plus the intake's is exactly the daemon's whole set."""
    whole = set(families(generate_latest(Metrics().registry).decode()))
    main = set(families(generate_latest(Metrics(webhooks=False).registry).decode()))
    intake = set(families(generate_latest(IntakeMetrics().registry).decode()))
    assert not main & intake
    assert main | intake == whole
    assert "remediator_webhook_requests" in intake and "remediator_queue_depth" in main


def test_a_repeated_family_is_what_promtool_refuses() -> None:
    """The check above can fail: the daemon's full set joined with the intake's is refused."""
    text = generate_latest(Metrics().registry) + generate_latest(IntakeMetrics().registry)
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert checked.returncode != 0
    assert "remediator_alerts_received_total" in checked.stderr.decode() + checked.stdout.decode()


async def test_main_down_fails_the_scrape_with_a_one_line_reason(front: Front) -> None:
    front.socket.unlink()
    r = await front.client.get("/metrics")
    assert r.status == 502
    answer = await r.json()
    assert "\n" not in answer["error"] and "is it running" in answer["error"]
