"""Issue 3's scenarios: the whole daemon against the fake API server, in simulated time.

Each test writes its own rule, drives alerts through the real webhook, and asserts
what a user would see: the writes the cluster received, the journal's decisions
with their reasons, escalations, and metrics.
"""

from __future__ import annotations

import asyncio
import copy
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.model import ExecutionStatus
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, auth, metric
from tests.scenarios.conftest import am_payload as payload

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
Client = Callable[..., Awaitable[TestClient]]


def alert(**kw: Any) -> dict[str, Any]:
    """An Alertmanager alert starting at this file's simulated start, unless told otherwise."""
    return am_alert(**{"starts_at": T0, **kw})


@dataclass
class World:
    app: Application
    client: TestClient
    kube: FakeKubeServer
    clock: FakeClock

    async def post(self, *alerts: dict[str, Any]) -> None:
        """Post and wait until decided (executions may still be running in simulated time)."""
        resp = await self.client.post("/webhook/alertmanager", data=payload(*alerts), headers=auth())
        assert resp.status == 202, await resp.text()
        await self.app.processor.drained()

    def patches(self) -> list[Any]:
        return [w for w in self.kube.writes if w.method == "PATCH"]

    async def outcomes(self) -> dict[str, int]:
        return await self.app.journal.decision_counts()

    async def reasons(self, outcome: str) -> list[str]:
        return [
            d["reason"] for d in await self.app.journal.decisions(limit=100_000) if d["outcome"] == outcome
        ]


@pytest.fixture
def world_factory(settings: Settings, tmp_path: Path, aiohttp_client: Client) -> Callable[..., Any]:
    counter = iter(range(1000))

    @asynccontextmanager
    async def make(
        rules: str,
        *,
        guards: dict[str, Any] | None = None,
        rollout: str = "realistic",
        autojump: bool = False,
        seed: Callable[[FakeKubeServer], None] | None = None,
        **overrides: Any,
    ) -> AsyncIterator[World]:
        clock = FakeClock(T0, autojump=autojump)
        n = next(counter)
        rules_dir = tmp_path / f"rules-{n}"
        rules_dir.mkdir()
        (rules_dir / "r.yaml").write_text(textwrap.dedent(rules))
        async with FakeKubeServer(clock=clock.now, rollout=rollout) as kube:  # type: ignore[arg-type]
            kube.add_deployment(
                "shop", "checkout", image="checkout:v2", revisions=["checkout:v1"], replicas=2
            )
            if seed:
                seed(kube)
            data = settings.model_dump()
            data["kubernetes"]["kubeconfig"] = kube.write_kubeconfig(tmp_path / f"kc-{n}")
            data["kubernetes"]["call_timeout"] = 0.3
            data["journal"]["path"] = tmp_path / f"journal-{n}.sqlite"
            data["rules"] = [rules_dir]
            data["guards"].update(guards or {})
            data.update(overrides)
            s = Settings.model_validate(data)
            async with open_app(s, clock=clock) as app:
                client = await aiohttp_client(build_web_app(app.api_state()))
                yield World(app=app, client=client, kube=kube, clock=clock)

    return make


RESTART = """
rules:
  - name: restart
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    guards: {cooldown: 2m, max_actions: {count: 3, per: 1h}}
"""


async def test_storm_of_10000_alerts_for_one_target_acts_once_and_loses_nothing(
    world_factory: Callable[..., Any],
) -> None:
    async with world_factory(RESTART, autojump=True) as w:
        for batch in range(100):
            await asyncio.gather(
                *(w.post(*(alert(instance=f"i-{batch}-{i}") for i in range(100))) for _ in range(1))
            )
        await w.app.drained(timeout_s=60)
        assert len(w.patches()) == 1, "the guards allow one write"
        counts = await w.outcomes()
        assert sum(counts.values()) == 10_000, "every alert recorded, none lost"
        assert counts == {"act": 1, "cooldown": 9_999}
        assert await w.app.journal.count("alerts") == 10_000
        # Memory stays bounded: guard state is per target, not per alert; the backlog lives on disk.
        assert len(w.app.cooldown._last) == 1
        assert w.app.inflight.busy() == 0 and w.app.journal.backlog() == 0
        text = await (await w.client.get("/metrics")).text()
        assert metric(text, "remediator_decisions_total", rule="restart", outcome="cooldown") == 9_999


async def test_repeated_skips_are_summarized_with_rule_and_target(world_factory: Callable[..., Any]) -> None:
    async with world_factory(RESTART, autojump=True) as w:
        await w.post(alert())
        await w.app.drained()
        with structlog.testing.capture_logs() as logs:
            await w.post(*(alert(instance=f"i-{i}") for i in range(30)))
        summaries = [e for e in logs if e["event"] == "repeated skips in batch"]
        assert [e["skipped"] for e in summaries] == [["restart on shop/Deployment/checkout: cooldown x30"]]
        assert [e["total"] for e in summaries] == [30]


async def test_flapping_alert_is_bounded_by_cooldown_and_rate_limit(
    world_factory: Callable[..., Any],
) -> None:
    async with world_factory(RESTART) as w:
        for i in range(100):  # firing/resolved 100 times over ten minutes of simulated time
            start = T0 + timedelta(seconds=12 * (i // 2))
            await w.post(alert(starts_at=start, status="firing" if i % 2 == 0 else "resolved"))
            await w.app.processor.drained()
            await w.clock.run(6)
        await w.app.drained()
        counts = await w.outcomes()
        assert counts["act"] == len(w.patches()) == 3, counts
        assert counts["resolved"] == 50
        assert counts["act"] + counts["cooldown"] + counts["rate_limited"] == 50
        assert counts["rate_limited"] > 0
        [reason, *_] = await w.reasons("rate_limited")
        assert "3 actions on shop/Deployment/checkout by rule 'restart' in the last 1h (max 3)" in reason


FAULTY = """
rules:
  - name: restart
    severity: P1
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    guards:
      cooldown: 1m
      retry: {attempts: 3, backoff: 1s..8s}
      circuit_breaker: {failures: 2, reset_after: 30m}
    on_failure:
      - webhook: {url: "URL"}
"""


async def test_api_faults_retry_spaced_open_the_breaker_and_escalate_once(
    world_factory: Callable[..., Any], aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    receiver = web.Application()
    receiver.router.add_post("/escalate", hook)
    server = await aiohttp_server(receiver)
    async with world_factory(FAULTY.replace("URL", str(server.make_url("/escalate")))) as w:
        # 1: three 500s -> failed after 3 attempts, spaced by backoff
        w.kube.inject(status=500, method="PATCH", times=3)
        await w.post(alert(starts_at=T0))
        await w.clock.run(60, quiet_s=0.5)  # a retry's request may be on the wire
        await w.app.drained()
        assert len([r for r in w.kube.requests if r.method == "PATCH"]) == 3
        assert w.patches() == []
        sleeps = [s for s in w.clock.slept if s != w.app.settings.guards.verify_poll_interval]
        assert len(sleeps) >= 2 and all(s >= 1.0 for s in sleeps[:2]), sleeps
        assert len(received) == 1, "the first failure escalates"

        # 2: 429 with Retry-After 5: waits at least that long between tries; 2nd failure opens the breaker
        before = len(w.clock.slept)
        w.kube.inject(status=429, method="PATCH", times=3, retry_after=5)
        await w.post(alert(starts_at=T0 + timedelta(minutes=2)))
        await w.clock.run(120, quiet_s=0.5)
        await w.app.drained()
        assert [s for s in w.clock.slept[before:] if s >= 5.0], ("Retry-After honoured", w.clock.slept)
        assert len([r for r in w.kube.requests if r.method == "PATCH"]) == 6
        text = await (await w.client.get("/metrics")).text()
        assert metric(text, "remediator_circuit_breaker_state", rule="restart") == 2

        # 3: breaker open -> the next alert is skipped without touching the API
        await w.post(alert(starts_at=T0 + timedelta(minutes=5)))
        await w.app.drained()
        assert len([r for r in w.kube.requests if r.method == "PATCH"]) == 6
        [reason] = await w.reasons("breaker_open")
        assert "2 consecutive failures" in reason

        # 4: after reset_after, one half-open probe; it times out -> open again
        await w.clock.run(31 * 60)
        w.kube.inject(status=0, method="PATCH", times=3, delay=1.0)
        await w.post(
            alert(starts_at=T0 + timedelta(minutes=40)),
            alert(starts_at=T0 + timedelta(minutes=40), instance="other-episode"),
        )
        await w.clock.run(60, quiet_s=1.0)  # each attempt waits 0.3 s of real time for its timeout
        await w.app.drained()
        probes = [r for r in w.kube.requests if r.method == "PATCH"][6:]
        assert len(probes) == 3, "one probe execution, its 3 attempts"
        executions = await w.app.journal.executions()
        assert [e.status for e in executions].count(ExecutionStatus.FAILED) == 3
        assert "no answer within 0.3s" in (executions[0].error or "")
        assert len(received) == 1, "escalation fires once for the incident"
        escalations = await w.app.journal.escalations()
        # failure 2, breaker opened, probe failed, breaker re-opened: journaled, not sent again
        assert sorted(e["status"] for e in escalations) == ["accepted"] + ["deduplicated"] * 4


async def test_opt_out_denied_namespace_bounds_and_bad_names_write_nothing(
    world_factory: Callable[..., Any],
) -> None:
    rules = """
    rules:
      - name: restart
        match: ['alertname = "HighErrorRate"']
        target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
        actions: [{rollout_restart: {}}]
      - name: scale
        match: ['alertname = "HighLatency"']
        target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
        actions: [{scale: {by: 2, min: 2, max: 4}}]
    """

    def seed(kube: FakeKubeServer) -> None:
        kube.add_deployment("shop", "legacy", labels={"remediator.io/disabled": "true"})
        kube.add_deployment("shop", "quiet", annotations={"remediator.io/disabled": "true"})
        kube.add_namespace("frozen", labels={"remediator.io/disabled": "true"})
        kube.add_deployment("frozen", "api")
        kube.add_deployment("shop", "search", replicas=4)
        kube.add_deployment("kube-system", "coredns")

    async with world_factory(rules, seed=seed, autojump=True) as w:
        await w.post(
            alert(deployment="legacy"),
            alert(deployment="quiet"),
            alert(namespace="frozen", deployment="api"),
            alert(namespace="kube-system", deployment="coredns"),
            alert(deployment="Bad_Name"),
            alert(name="HighLatency", deployment="search"),
        )
        await w.app.drained()
        assert w.kube.writes == []
        counts = await w.outcomes()
        assert counts == {
            "target_opted_out": 3,
            "outside_allowed_namespaces": 1,
            "invalid_target": 1,
            "not_applicable": 1,
        }
        assert any("already at 4 replicas" in r for r in await w.reasons("not_applicable"))
        assert all("remediator.io/disabled" in r for r in await w.reasons("target_opted_out"))


CONFIRMED = """
rules:
  - name: restart
    match: ['alertname = "HighErrorRate"']
    confirm:
      query: 'sum(rate(http_requests_total{status=~"5..",deployment="{{ labels.deployment }}"}[1m])) * 60'
      when: result > 10
      on_unreachable: ON
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
"""


async def test_confirm_stale_and_unreachable_prometheus(
    world_factory: Callable[..., Any], aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    answers: list[float] = []
    queries: list[str] = []

    async def query(request: web.Request) -> web.Response:
        queries.append(request.query["query"])
        value = answers.pop(0)
        return web.json_response(
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, str(value)]}]},
            }
        )

    prom = web.Application()
    prom.router.add_get("/api/v1/query", query)
    server = await aiohttp_server(prom)
    url = str(server.make_url("/"))
    async with world_factory(CONFIRMED.replace("ON", "skip"), autojump=True, prometheus={"url": url}) as w:
        answers.extend([3.0, 40.0, 40.0])
        await w.post(alert(starts_at=T0 - timedelta(minutes=1)))  # confirm says 3/min: not confirmed
        await w.app.drained()
        await w.post(alert(starts_at=T0 - timedelta(hours=2)))  # stale, but confirm says it still holds: act
        await w.app.drained()
        assert 'deployment="checkout"' in queries[0]
        counts = await w.outcomes()
        assert counts == {"not_confirmed": 1, "act": 1}
        assert "result 3 is not > 10" in (await w.reasons("not_confirmed"))[0]
    async with world_factory(
        CONFIRMED.replace("ON", "act"), autojump=True, prometheus={"url": "http://127.0.0.1:9"}
    ) as w:
        await w.post(alert(starts_at=T0 - timedelta(minutes=1)))  # unreachable, rule says act
        await w.post(alert(deployment="other", starts_at=T0 - timedelta(hours=2)))  # stale and unconfirmable
        await w.app.drained()
        counts = await w.outcomes()
        assert counts["act"] == 1 and counts["not_confirmed"] == 1
        assert "Prometheus unreachable" in (await w.reasons("not_confirmed"))[0]
    async with world_factory(RESTART, autojump=True) as w:
        await w.post(alert(starts_at=T0 - timedelta(hours=2)))
        await w.app.drained()
        assert await w.outcomes() == {"stale_alert": 1}
        assert w.patches() == []


async def test_approval_records_a_pending_decision(world_factory: Callable[..., Any]) -> None:
    rules = RESTART.replace("max_actions: {count: 3, per: 1h}", "approval: true")
    async with world_factory(rules, autojump=True) as w:
        await w.post(alert())
        await w.app.drained()
        assert w.patches() == []
        assert await w.outcomes() == {"needs_approval": 1}
        [pending] = await w.app.journal.approvals(status="pending")
        assert pending["rule"] == "restart" and pending["target"] == "shop/Deployment/checkout"
        await w.clock.run(3601)
        assert [a["status"] for a in await w.app.journal.approvals()] == ["expired"]


VERIFIED = """
rules:
  - name: restart
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    verify: {rollout_complete_within: 2m, resolved_within: 5m}
    on_failure: [{webhook: {url: "http://127.0.0.1:9/unreachable"}}]
"""


async def test_verification_waits_for_rollout_and_resolution(world_factory: Callable[..., Any]) -> None:
    async with world_factory(VERIFIED, rollout="manual") as w:
        with structlog.testing.capture_logs() as logs:
            await w.post(alert())
            await w.app.processor.drained()
            await w.clock.run(30)
        # said as soon as the change is applied, while verification still waits
        assert [e["event"] for e in logs if e["event"] in ("applied, verifying", "execution finished")] == [
            "applied, verifying"
        ]
        w.kube.complete_rollouts()
        await w.clock.run(30)
        await w.post(alert(status="resolved"))
        await w.app.processor.drained()
        await w.clock.run(10)
        await w.app.drained()
        [ex] = await w.app.journal.executions()
        assert ex.status is ExecutionStatus.SUCCEEDED, ex.error
        assert "verified: rollout complete, alert resolved" in ex.summary
        text = await (await w.client.get("/metrics")).text()
        assert metric(text, "remediator_time_to_remediate_seconds_count") == 1


async def test_unverified_rollout_counts_as_failure(world_factory: Callable[..., Any]) -> None:
    def stall(kube: FakeKubeServer) -> None:
        # Pods started from now on run but never become Ready: the restart's rollout stalls.
        kube.set_pod_outcome("unready", namespace="shop", existing=False)

    async with world_factory(VERIFIED, seed=stall) as w:
        await w.post(alert())
        await w.app.processor.drained()
        await w.clock.run(180)
        await w.app.drained()
        [ex] = await w.app.journal.executions()
        assert ex.status is ExecutionStatus.FAILED
        assert ex.error is not None and ex.error.startswith("not verified: rollout not complete after 2m")
        [esc] = await w.app.journal.escalations()
        assert esc["dest"] == "webhook" and esc["status"] == "failed", "escalation tried, failure journaled"


def test_payload_helper_is_valid_v4() -> None:
    from remediator.receivers.alertmanager import validate

    assert len(validate(payload(alert(), copy.deepcopy(alert(status="resolved")))).alerts) == 2


async def test_a_restart_whose_answer_was_lost_is_retried_without_a_second_rollout(
    world_factory: Callable[..., Any],
) -> None:
    """The PATCH lands but the client sees a 504: the retry finds its own stamp, one rollout, succeeded."""
    async with world_factory(FAULTY.replace("URL", "http://127.0.0.1:9/escalate")) as w:
        w.kube.inject(status=504, method="PATCH", path=r"/deployments/", after_write=True)
        await w.post(alert(starts_at=T0))
        await w.clock.run(60, quiet_s=0.5)
        await w.app.drained()
        sent = [r for r in w.kube.requests if r.method == "PATCH"]
        assert [r.status for r in sent] == [504], "the retry sends no second patch"
        [execution] = await w.app.journal.executions()
        assert execution.status is ExecutionStatus.SUCCEEDED, execution
        assert execution.attempts == 2
        assert "already applied by an earlier attempt" in (execution.summary or "")
