"""Events API v2 against a local fake PagerDuty: bodies, retries on 429/5xx, no routing key in logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from remediator.actions.retry import RetryPolicy
from remediator.clock import FakeClock
from remediator.escalate._http import retry_after_s
from remediator.escalate.pagerduty import (
    EventResult,
    PagerDutyEvents,
    clip_dedup_key,
    dedup_key_for,
    severity_for,
)
from remediator.model import Target
from remediator.secrets import Secret

ROUTING_KEY = "R0UT1NGKEYsecret0123456789abcdef"
POLICY = RetryPolicy(attempts=4, backoff_min_s=1.0, backoff_max_s=30.0, deadline_s=120.0)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakePagerDuty:
    """Records each request (body and the fake clock's monotonic time) and answers from a script, then 202."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.script: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.release = asyncio.Event()
        self.hang = False
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        self.times.append(self.clock.monotonic())
        if self.hang:
            await self.release.wait()
        reply = self.script.pop(0) if self.script else None
        if reply is None:
            body = {
                "status": "success",
                "message": "Event processed",
                "dedup_key": self.requests[-1]["dedup_key"],
            }
            return web.json_response(body, status=202)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 21, 10, tzinfo=UTC))


@pytest.fixture
async def fake_pd(clock: FakeClock) -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty(clock)
    app = web.Application()
    app.router.add_post("/v2/enqueue", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("/v2/enqueue"))
    try:
        yield fake
    finally:
        fake.release.set()
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def events(session: aiohttp.ClientSession, url: str, clock: FakeClock, **kw: Any) -> PagerDutyEvents:
    return PagerDutyEvents(
        session=session, routing_key=Secret(ROUTING_KEY), url=url, clock=clock, retry=POLICY, **kw
    )


async def trigger(pd: PagerDutyEvents, **overrides: Any) -> EventResult:
    args: dict[str, Any] = {
        "dedup_key": "remediator/restart-on-5xx/shop/Deployment/web",
        "summary": "Auto-remediation failed: shop/web still erroring after restart",
        "source": "remediator",
        "severity": "critical",
        "component": "Deployment/web",
        "group": "shop",
        "custom_details": {"alert_fingerprint": "1a30ba71cca2921f", "actions_tried": ["rollout_restart"]},
        "links": [("http://am:9093/#/alerts", "Alertmanager")],
    }
    args.update(overrides)
    return await pd.trigger(**args)


async def test_trigger_sends_the_documented_body(
    session: aiohttp.ClientSession, fake_pd: FakePagerDuty, clock: FakeClock
) -> None:
    result = await trigger(events(session, fake_pd.url, clock))
    assert result == EventResult(
        status="accepted", attempts=1, dedup_key="remediator/restart-on-5xx/shop/Deployment/web"
    )
    assert result.ok
    [body] = fake_pd.requests
    assert body == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "remediator/restart-on-5xx/shop/Deployment/web",
        "client": "remediator",
        "payload": {
            "summary": "Auto-remediation failed: shop/web still erroring after restart",
            "source": "remediator",
            "severity": "critical",
            "timestamp": "2026-11-22T21:10:00+00:00",
            "component": "Deployment/web",
            "group": "shop",
            "custom_details": {"alert_fingerprint": "1a30ba71cca2921f", "actions_tried": ["rollout_restart"]},
        },
        "links": [{"href": "http://am:9093/#/alerts", "text": "Alertmanager"}],
    }


async def test_optional_fields_are_left_out_and_long_values_clipped(
    session: aiohttp.ClientSession, fake_pd: FakePagerDuty, clock: FakeClock
) -> None:
    pd = events(session, fake_pd.url, clock)
    result = await pd.trigger(
        dedup_key="k" * 300, summary="s" * 2000, source="remediator", severity="warning"
    )
    [body] = fake_pd.requests
    assert len(body["payload"]["summary"]) == 1024
    assert set(body["payload"]) == {"summary", "source", "severity", "timestamp"}
    assert "links" not in body
    assert len(body["dedup_key"]) == 255 and result.dedup_key == body["dedup_key"]


async def test_resolve_uses_the_same_key(
    session: aiohttp.ClientSession, fake_pd: FakePagerDuty, clock: FakeClock
) -> None:
    pd = events(session, fake_pd.url, clock)
    key = dedup_key_for("restart-on-5xx", Target(kind="Deployment", namespace="shop", name="web").key)
    assert (await trigger(pd, dedup_key=key)).ok
    result = await pd.resolve(dedup_key=key)
    assert result == EventResult(status="accepted", attempts=1, dedup_key=key)
    assert fake_pd.requests[1] == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": key}
    assert fake_pd.requests[0]["dedup_key"] == key


async def test_429_with_retry_after_then_500_then_accepted(
    session: aiohttp.ClientSession, fake_pd: FakePagerDuty, clock: FakeClock
) -> None:
    fake_pd.script = [
        Reply(
            429,
            {"status": "throttle event", "message": "Requests for this service are arriving too quickly"},
            {"Retry-After": "7"},
        ),
        Reply(500, {"status": "error"}),
    ]
    result = await trigger(events(session, fake_pd.url, clock))
    assert result.status == "accepted" and result.attempts == 3
    assert len(fake_pd.requests) == 3
    assert all(r == fake_pd.requests[0] for r in fake_pd.requests), "every retry sends the same event"
    first, second = fake_pd.gaps
    assert 7.0 <= first <= 7.0 + 1e-6, "Retry-After (7s) wins over the 1-2s back-off"
    assert 2.0 <= second <= 3.0, "second back-off: 2s plus up to 1s of jitter"


async def test_400_fails_at_once_with_pagerdutys_reason(
    session: aiohttp.ClientSession, fake_pd: FakePagerDuty, clock: FakeClock
) -> None:
    fake_pd.script = [
        Reply(
            400,
            {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["'payload.severity' is invalid"],
            },
        )
    ]
    result = await trigger(events(session, fake_pd.url, clock))
    assert result.status == "failed" and result.attempts == 1 and not result.ok
    assert "pagerduty trigger: HTTP 400" in result.error and "Event object is invalid" in result.error
    assert clock.monotonic() == 0.0


async def test_persistent_5xx_fails_after_the_policys_attempts_without_raising(
    session: aiohttp.ClientSession, fake_pd: FakePagerDuty, clock: FakeClock
) -> None:
    fake_pd.script = [Reply(503, {"status": "unavailable"})] * 10
    result = await events(session, fake_pd.url, clock).resolve(dedup_key="k")
    assert result.status == "failed" and result.attempts == 4
    assert "HTTP 503" in result.error
    assert len(fake_pd.requests) == 4


async def test_connection_refused_is_retried_then_failed(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/v2/enqueue"))
    await server.close()  # nothing listens there any more
    result = await trigger(events(session, url, clock))
    assert result.status == "failed" and result.attempts == 4
    assert "ClientConnectorError" in result.error
    assert clock.monotonic() > 0, "it backed off between attempts"


async def test_a_slow_answer_times_out_and_counts_as_transient(
    session: aiohttp.ClientSession, fake_pd: FakePagerDuty, clock: FakeClock
) -> None:
    fake_pd.hang = True
    pd = PagerDutyEvents(
        session=session,
        routing_key=Secret(ROUTING_KEY),
        url=fake_pd.url,
        clock=clock,
        retry=RetryPolicy(attempts=2, backoff_min_s=1, backoff_max_s=1),
        timeout_s=0.1,
    )
    result = await pd.resolve(dedup_key="k")
    assert result.status == "failed" and result.attempts == 2
    assert "no answer within 0.1s" in result.error


async def test_the_routing_key_never_reaches_logs_or_errors(
    session: aiohttp.ClientSession,
    fake_pd: FakePagerDuty,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    # A server that echoes the key back in its errors, retried once, then refused.
    echo = {"status": "invalid event", "message": f"unknown routing key {ROUTING_KEY}"}
    fake_pd.script = [Reply(500, echo), Reply(400, echo)]
    pd = events(session, fake_pd.url, clock)
    with structlog.testing.capture_logs() as captured:
        result = await trigger(pd)
        refused = await events(session, "http://127.0.0.1:1/v2/enqueue", clock).resolve(dedup_key="k")
    out, err = capsys.readouterr()
    ours = [
        r.getMessage() for r in caplog.records if not r.name.startswith(("aiohttp.access", "aiohttp.server"))
    ]
    logged = "\n".join([repr(captured), *ours, out, err])
    assert result.status == refused.status == "failed"
    assert "pagerduty event failed" in logged, "the capture saw the failure lines"
    assert "http call retrying" in logged
    assert ROUTING_KEY not in logged
    assert ROUTING_KEY not in result.error and "<redacted>" in result.error
    assert ROUTING_KEY not in refused.error
    assert ROUTING_KEY not in repr(pd)


def test_dedup_key_for_is_stable_and_scoped() -> None:
    target = Target(kind="Deployment", namespace="shop", name="web").key
    assert dedup_key_for("restart-on-5xx", target) == "remediator/restart-on-5xx/shop/Deployment/web"
    assert dedup_key_for("restart-on-5xx", target) == dedup_key_for("restart-on-5xx", target)
    assert dedup_key_for("other-rule", target) != dedup_key_for("restart-on-5xx", target)


def test_long_keys_are_clipped_to_255_and_stay_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(clip_dedup_key(a)) == len(clip_dedup_key(b)) == 255
    assert clip_dedup_key(a) != clip_dedup_key(b)
    assert clip_dedup_key(a) == clip_dedup_key(a)
    assert clip_dedup_key("short") == "short"


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("P0", "critical"),
        ("P1", "critical"),
        ("SEV1", "critical"),
        ("critical", "critical"),
        ("p2", "error"),
        ("SEV2", "error"),
        ("P3", "warning"),
        ("warning", "warning"),
        ("P4", "info"),
        (None, "info"),
        ("", "info"),
    ],
)
def test_severity_for_priority(priority: str | None, severity: str) -> None:
    assert severity_for(priority) == severity


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    clock = FakeClock(datetime(2026, 11, 22, 21, 10, tzinfo=UTC))
    assert retry_after_s("30", clock=clock) == 30.0
    assert (
        retry_after_s(format_datetime(clock.now() + timedelta(seconds=45), usegmt=True), clock=clock) == 45.0
    )
    assert (
        retry_after_s(format_datetime(clock.now() - timedelta(seconds=45), usegmt=True), clock=clock) == 0.0
    )
    assert retry_after_s("soon", clock=clock) is None
    assert retry_after_s("nan", clock=clock) is None and retry_after_s("inf", clock=clock) is None
    assert retry_after_s(None, clock=clock) is None
