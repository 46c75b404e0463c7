"""Verification's probes during the watch after an action: a probe that does not answer is cut
when its window ends (in the clock's time, not after its own timeout), and an answer that is not
what Prometheus documents is "unreachable" for that poll, not an error that ends the verification."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from remediator.actions.protocols import Verification
from remediator.clock import FakeClock
from remediator.engine.resolutions import ResolutionBoard
from remediator.guards.prometheus import PrometheusClient
from remediator.model import Alert, Target
from remediator.outbound import HealthChecker, OutboundHttp
from remediator.verify import Verifier
from tests.guards import T0, acted, make_rule, proposal

ALERT = Alert(
    source="alertmanager",
    fingerprint="f",
    status="firing",
    labels={"alertname": "X", "deployment": "checkout"},
    annotations={},
    starts_at=T0,
)


@dataclass
class Outside:
    """The service's health endpoint and Prometheus: answers in order (the last one repeats);
    "hang" never answers."""

    health: list[str] = field(default_factory=lambda: ["ok"])
    prometheus: list[Any] = field(default_factory=lambda: ["0.5"])
    asked: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def health(request: web.Request) -> web.Response:
            self.asked.append(request.path)
            answer = self.health.pop(0) if len(self.health) > 1 else self.health[0]
            if answer == "hang":
                await asyncio.Event().wait()
            return web.json_response({"ok": answer == "ok"})

        async def query(request: web.Request) -> web.StreamResponse:
            self.asked.append(request.query["query"])
            answer = self.prometheus.pop(0) if len(self.prometheus) > 1 else self.prometheus[0]
            if answer == "hang":
                await asyncio.Event().wait()
            if isinstance(answer, str):
                result = [{"metric": {}, "value": [1.0, answer]}]
                return web.json_response(
                    {"status": "success", "data": {"resultType": "vector", "result": result}}
                )
            return web.Response(body=answer if isinstance(answer, bytes) else json.dumps(answer).encode())

        app = web.Application()
        app.router.add_get("/health/{svc}", health)
        app.router.add_get("/api/v1/query", query)
        return app


class HangingRollout:
    async def rollout_status(self, target: Target) -> Any:
        await asyncio.Event().wait()


@pytest.fixture
async def outside(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[Outside, TestServer]:
    out = Outside()
    return out, await aiohttp_server(out.app(), host="127.0.0.1")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def verifier(
    server: TestServer, session: aiohttp.ClientSession, clock: FakeClock, *, kube: Any = None
) -> Verifier:
    return Verifier(
        kube=kube,
        resolutions=ResolutionBoard(),
        clock=clock,
        poll_s=30.0,
        health=HealthChecker(http=OutboundHttp(session=session, allowed_hosts=("127.0.0.1",))),
        prometheus=PrometheusClient(session=session, base_url=str(server.make_url("")), timeout_s=300.0),
    )


def rule_verifying(verify: str, server: TestServer) -> Any:
    return make_rule(extra=f"    verify: {verify}".replace("PORT", str(server.port)))


HEALTHY = (
    '{healthy: {http: {url: "http://127.0.0.1:PORT/health/{{ labels.deployment }}", '
    "condition: ok == true, timeout: 5m}, within: 2m}}"
)
METRIC = "{metric: {query: 'sum(rate(errors_total[1m]))', below: 1, within: 2m}}"
ROLLOUT = "{rollout_complete_within: 2m}"


@pytest.mark.parametrize(
    ("probe", "verify", "detail"),
    [
        ("health", HEALTHY, "not verified: not healthy 2m after the action (the health check had no answer"),
        (
            "prometheus",
            METRIC,
            "not verified: metric not under 1 2m after the action (Prometheus had not answered",
        ),
        (
            "rollout",
            ROLLOUT,
            "not verified: rollout not complete after 2m (the rollout status read had no answer",
        ),
    ],
)
async def test_a_probe_that_does_not_answer_is_cut_when_the_window_ends(
    outside: tuple[Outside, TestServer], session: aiohttp.ClientSession, probe: str, verify: str, detail: str
) -> None:
    """The probe's own timeout is 5 minutes, the window 2: the verdict comes at 2 minutes of the
    clock's time, however long the probe would have waited."""
    out, server = outside
    out.health, out.prometheus = ["hang"], ["hang"]
    clock = FakeClock(T0, autojump=False)
    v = verifier(server, session, clock, kube=HangingRollout() if probe == "rollout" else None)
    decision = acted(proposal(alert=ALERT), T0)
    task = asyncio.ensure_future(v.verify(decision, rule_verifying(verify, server), started_at=T0))
    await clock.run(150, quiet_s=2.0)  # a probe on a loaded machine: 2s of real time to answer
    async with asyncio.timeout(10):  # real time: the probe would have held it 5 minutes
        result = await task
    assert result is not None and not result.ok
    assert result.detail.startswith(detail), result.detail
    assert clock.monotonic() == 150


async def test_a_probe_that_answers_in_time_is_not_cut(
    outside: tuple[Outside, TestServer], session: aiohttp.ClientSession
) -> None:
    out, server = outside
    out.health = ["down", "down", "ok"]
    clock = FakeClock(T0, autojump=False)
    v = verifier(server, session, clock)
    task = asyncio.ensure_future(
        v.verify(acted(proposal(alert=ALERT), T0), rule_verifying(HEALTHY, server), started_at=T0)
    )
    await clock.run(150, quiet_s=2.0)  # a probe on a loaded machine: 2s of real time to answer
    async with asyncio.timeout(10):
        assert await task == Verification(ok=True, detail="verified: health check passed")
    assert out.asked == ["/health/checkout"] * 3  # at 0, 30s and 60s


@pytest.mark.parametrize(
    "garbage",
    [
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1.0]}]}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1.0, 0.5]}]}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1.0, "lots"]}]}},
        {"status": "success", "data": {"resultType": "scalar", "result": []}},
        {"status": "success", "data": ["not", "an", "object"]},
        {"status": "success"},
        b"<html>502 Bad Gateway</html>",
    ],
)
async def test_a_malformed_prometheus_answer_is_one_failed_poll_not_an_error(
    outside: tuple[Outside, TestServer], session: aiohttp.ClientSession, garbage: Any
) -> None:
    """A proxy's page or a broken answer at one poll: the next poll's answer verifies it."""
    out, server = outside
    out.prometheus = [garbage, "0.5"]
    clock = FakeClock(T0)
    v = verifier(server, session, clock)
    result = await v.verify(acted(proposal(alert=ALERT), T0), rule_verifying(METRIC, server), started_at=T0)
    assert result == Verification(ok=True, detail="verified: metric back under 1 (0.5)")
    assert len(out.asked) == 2


async def test_a_prometheus_answer_that_stays_malformed_is_the_reason_given(
    outside: tuple[Outside, TestServer], session: aiohttp.ClientSession
) -> None:
    out, server = outside
    out.prometheus = [{"status": "success", "data": {"resultType": "vector", "result": [{"value": []}]}}]
    clock = FakeClock(T0)
    v = verifier(server, session, clock)
    result = await v.verify(acted(proposal(alert=ALERT), T0), rule_verifying(METRIC, server), started_at=T0)
    assert result is not None and not result.ok
    assert result.detail.startswith(
        "not verified: metric not under 1 2m after the action (Prometheus unreachable: unexpected answer: "
    ), result.detail
