"""Resource limits of the HTTP side: slow clients are cut off, /metrics never holds up the event
loop, and a reload drops the metric series of the rules it removed."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from remediator.api.server import make_runner
from remediator.app import Application
from remediator.config import HttpSettings
from tests.api.conftest import RULES, TOKEN, Api


@pytest.fixture
async def served(api_app: Application) -> AsyncIterator[tuple[str, int]]:
    """The daemon served as `remediator serve` serves it, with short header and body timeouts."""
    state = api_app.api_state()
    http = HttpSettings(header_timeout=0.5, body_timeout=0.5)
    runner = make_runner(
        dataclasses.replace(state, settings=state.settings.model_copy(update={"http": http}))
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        server = site._server
        assert isinstance(server, asyncio.Server)
        host, port = server.sockets[0].getsockname()[:2]
        yield host, port
    finally:
        await runner.cleanup()


async def test_headers_that_never_finish_are_cut_off(served: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*served)
    started = time.monotonic()
    rest = b"?"
    try:
        writer.write(b"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: applic")
        await writer.drain()
        for _ in range(25):  # a slow loris: a byte now and then, never the end of the headers
            await asyncio.sleep(0.2)
            writer.write(b"a")
            await writer.drain()
        async with asyncio.timeout(5):
            rest = await reader.read()
    except ConnectionError:
        rest = b""
    finally:
        writer.close()
    assert rest == b""  # closed by the server, without an answer to a request it never got
    assert time.monotonic() - started < 3


async def test_a_body_that_does_not_arrive_in_time_is_a_408(served: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*served)
    try:
        writer.write(
            b"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"version": "4", '
        )
        await writer.drain()
        started = time.monotonic()
        async with asyncio.timeout(5):
            head = await reader.readline()
            rest = await reader.read()
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"did not arrive within 0.5s" in rest
    assert time.monotonic() - started < 3


class _SlowCollector(Collector):
    """A collector as slow as a 200 MB exposition: it blocks whatever thread generates it."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        time.sleep(0.6)
        yield GaugeMetricFamily("slow_metric", "slow", value=1)


async def test_metrics_are_generated_off_the_event_loop(api: Api) -> None:
    api.app.metrics.registry.register(_SlowCollector())
    scrape = asyncio.create_task(api.client.get("/metrics"))
    await asyncio.sleep(0.05)  # the scrape has started generating
    started = time.monotonic()
    health = await api.client.get("/healthz")
    took = time.monotonic() - started
    resp = await scrape
    assert health.status == 200 and resp.status == 200
    assert "slow_metric 1.0" in await resp.text()
    assert took < 0.3, f"/healthz waited {took:.2f}s behind a /metrics scrape"


async def test_a_reload_drops_the_series_of_removed_rules(api: Api, api_rules_dir: Path) -> None:
    before = await api.metrics()
    assert 'remediator_rule_matches_total{rule="flush-cache"}' in before
    assert 'remediator_circuit_breaker_state{rule="flush-cache"}' in before
    assert 'remediator_decisions_total{action="rollout_restart",outcome="act",rule="flush-cache"}' in before
    kept = RULES[: RULES.index("  - name: flush-cache")]
    (api_rules_dir / "rules.yaml").write_text(kept)
    status, body = await api.post("/reload", {"reason": "flush-cache retired"})
    assert status == 200 and body["removed"] == ["flush-cache"]
    after = await api.metrics()
    assert 'rule="flush-cache"' not in after
    assert 'remediator_rule_matches_total{rule="restart-on-errors"}' in after
    api.app.refresh_gauges()  # the periodic refresh does not bring it back either
    assert 'rule="flush-cache"' not in await api.metrics()
