"""End to end: `http_request` actions and HTTP/PromQL health checks against a local service on 127.0.0.1.

The daemon runs whole (journal, guards, runner, verification, escalation) against the fake
cluster; the "service" is a real aiohttp server standing in for the application's admin and
health endpoints, Prometheus' query API and an escalation webhook, each recording what it got.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import HttpActionSettings, PrometheusSettings, Settings
from remediator.model import ExecutionStatus
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth

ADMIN_TOKEN = "maint-token-8c1f2e"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass
class Service:
    """What the local service answers and what it was sent."""

    fake_kube: FakeKubeServer
    maintenance_status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    health_probes: int = 0
    error_rate_after_scale: float = 0.001
    always_healthy: bool = False

    def restarted(self) -> bool:
        dep = self.fake_kube.get("Deployment", "shop", "image-gen")
        assert dep is not None
        return RESTARTED_AT in (dep["spec"]["template"]["metadata"].get("annotations") or {})

    def replicas(self) -> int:
        dep = self.fake_kube.get("Deployment", "shop", "search")
        assert dep is not None
        return int(dep["spec"]["replicas"])

    def app(self) -> web.Application:
        async def maintenance(request: web.Request) -> web.Response:
            self.requests.append(
                {
                    "path": request.raw_path,
                    "authorization": request.headers.get("Authorization"),
                    "body": await request.json(),
                }
            )
            return web.json_response({"maintenance": True}, status=self.maintenance_status)

        async def health(request: web.Request) -> web.Response:
            # Down until remediator restarted it: the ideogram dependency reconnects with the new pods.
            self.health_probes += 1
            connected = self.always_healthy or self.restarted()
            return web.json_response({"services": {"ideogram": {"connected": connected}}})

        async def query(request: web.Request) -> web.Response:
            value = 0.25 if self.replicas() <= 2 else self.error_rate_after_scale
            return web.json_response(
                {
                    "status": "success",
                    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, str(value)]}]},
                }
            )

        async def escalate(request: web.Request) -> web.Response:
            self.escalations.append(await request.json())
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/admin/{service}/maintenance", maintenance)
        app.router.add_get("/health/{service}", health)
        app.router.add_get("/api/v1/query", query)
        app.router.add_post("/escalate", escalate)
        return app


@pytest.fixture
async def service(
    fake_kube: FakeKubeServer, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> tuple[Service, TestServer]:
    svc = Service(fake_kube=fake_kube)
    server = await aiohttp_server(svc.app(), host="127.0.0.1")
    return svc, server


RULES = """
rules:
  - name: maintenance-mode
    match: ['alertname = "MaintenanceNeeded"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - http_request:
          url: "http://127.0.0.1:PORT/admin/{{ labels.deployment }}/maintenance"
          headers: {Authorization: {env: SHOP_ADMIN_TOKEN, prefix: "Bearer "}}
          body: {enabled: true}
    guards: {retry: {attempts: 2, backoff: 1s..1s}}
    on_failure:
      - webhook: {url: "http://127.0.0.1:PORT/escalate"}
  - name: maintenance-mode-elsewhere
    match: ['alertname = "MaintenanceElsewhere"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - http_request: {url: "http://127.0.0.2:PORT/admin/x/maintenance", body: {enabled: true}}
    on_failure:
      - webhook: {url: "http://127.0.0.1:PORT/escalate"}
  - name: service-down
    match: ['alertname = "ServiceDown"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    confirm:
      http:
        url: "http://127.0.0.1:PORT/health/{{ labels.deployment }}"
        condition: services.ideogram.connected == true
    actions: [rollout_restart]
    verify:
      healthy:
        http: {url: "http://127.0.0.1:PORT/health/{{ labels.deployment }}",
               condition: services.ideogram.connected == true}
        within: 5m
    on_failure:
      - webhook: {url: "http://127.0.0.1:PORT/escalate"}
  - name: scale-on-errors
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - scale: {by: 2, max: 6}
    verify:
      metric: {query: 'sum(rate(errors{deployment="{{ labels.deployment }}"}[5m]))', below: 0.01, within: 10m}
    on_failure:
      - webhook: {url: "http://127.0.0.1:PORT/escalate"}
"""


@pytest.fixture
def settings(
    settings: Settings,
    tmp_path: Path,
    service: tuple[Service, TestServer],
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.setenv("SHOP_ADMIN_TOKEN", ADMIN_TOKEN)
    _, server = service
    rules = tmp_path / "http-rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(textwrap.dedent(RULES).replace("PORT", str(server.port)))
    return settings.model_copy(
        update={
            "rules": (rules,),
            "http_actions": HttpActionSettings(allowed_hosts=("127.0.0.1",)),
            "prometheus": PrometheusSettings(url=f"http://127.0.0.1:{server.port}"),
        }
    )


@pytest.fixture
async def daemon(settings: Settings, clock: FakeClock) -> AsyncIterator[Application]:
    async with open_app(settings, clock=clock) as app:
        yield app


async def fire(client: TestClient, daemon: Application, name: str, deployment: str = "image-gen") -> None:
    resp = await client.post(
        "/webhook/alertmanager", data=am_payload(am_alert(name, deployment=deployment)), headers=auth()
    )
    assert resp.status == 202, await resp.text()
    await daemon.drained()


async def test_maintenance_mode_is_called_with_the_secret_and_audited_without_it(
    client: TestClient, daemon: Application, service: tuple[Service, TestServer]
) -> None:
    svc, server = service
    with structlog.testing.capture_logs() as logs:
        await fire(client, daemon, "MaintenanceNeeded")

    assert svc.requests == [
        {
            "path": "/admin/image-gen/maintenance",
            "authorization": f"Bearer {ADMIN_TOKEN}",
            "body": {"enabled": True},
        }
    ]
    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.SUCCEEDED, ex.error
    url = f"http://127.0.0.1:{server.port}/admin/image-gen/maintenance"
    assert ex.summary == f"POST {url} -> 200"
    assert ex.changes == [{"path": f"POST {url}", "before": None, "after": "HTTP 200"}]
    assert ADMIN_TOKEN not in repr(await daemon.journal.executions()) + repr(await daemon.journal.decisions())
    assert ADMIN_TOKEN not in repr(logs)


async def test_dry_run_plans_the_request_and_sends_nothing(
    client: TestClient, daemon: Application, service: tuple[Service, TestServer]
) -> None:
    svc, server = service
    daemon.mode.dry_run = True
    await fire(client, daemon, "MaintenanceNeeded")

    assert svc.requests == []
    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.PLANNED
    url = f"http://127.0.0.1:{server.port}/admin/image-gen/maintenance"
    assert ex.summary == f"would POST {url} (expect 200/201/202/204)"
    assert ex.changes == [
        {
            "path": f"POST {url}",
            "before": None,
            "after": {
                "headers": {"Authorization": "<secret env SHOP_ADMIN_TOKEN>"},
                "body": {"enabled": True},
            },
        }
    ]


async def test_a_failing_endpoint_is_retried_then_escalated(
    client: TestClient, daemon: Application, service: tuple[Service, TestServer]
) -> None:
    svc, _ = service
    svc.maintenance_status = 503
    await fire(client, daemon, "MaintenanceNeeded")

    assert len(svc.requests) == 2, "503 is retried, by the rule's two attempts"
    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.FAILED
    assert ex.attempts == 2
    assert ex.error is not None and "answered 503 (want 200/201/202/204)" in ex.error
    [escalation] = svc.escalations
    assert escalation["details"]["rule"] == "maintenance-mode"
    assert "answered 503" in escalation["details"]["reason"]


async def test_a_host_outside_the_allowlist_is_never_contacted_and_escalates(
    client: TestClient, daemon: Application, service: tuple[Service, TestServer]
) -> None:
    svc, _ = service
    await fire(client, daemon, "MaintenanceElsewhere")

    assert svc.requests == []
    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.FAILED
    assert ex.attempts == 1, "a refused host is permanent: no retry"
    assert (
        ex.error is not None
        and "host 127.0.0.2" in ex.error
        and "not in http_actions.allowed_hosts" in ex.error
    )
    assert [e["details"]["rule"] for e in svc.escalations] == ["maintenance-mode-elsewhere"]


async def test_service_down_restarts_when_the_health_check_fails_and_verifies_it_healthy(
    client: TestClient, daemon: Application, service: tuple[Service, TestServer]
) -> None:
    svc, _ = service
    await fire(client, daemon, "ServiceDown")

    assert svc.restarted()
    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.SUCCEEDED, ex.error
    assert ex.summary.endswith("; verified: health check passed")
    assert svc.escalations == []


async def test_service_down_with_a_healthy_endpoint_is_not_confirmed(
    client: TestClient,
    daemon: Application,
    service: tuple[Service, TestServer],
) -> None:
    svc, _ = service
    svc.always_healthy = True
    await fire(client, daemon, "ServiceDown")

    [decision] = await daemon.journal.decisions()
    assert decision["outcome"] == "not_confirmed"
    assert "confirm: healthy: GET" in decision["reason"]
    assert "services.ideogram.connected is true" in decision["reason"]
    assert await daemon.journal.executions() == []


async def test_verify_waits_for_the_error_rate_to_come_back_under_the_threshold(
    client: TestClient, daemon: Application, service: tuple[Service, TestServer]
) -> None:
    await fire(client, daemon, "HighErrorRate", deployment="search")

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.SUCCEEDED, ex.error
    assert ex.summary.endswith("verified: metric back under 0.01 (0.001)")


async def test_an_error_rate_that_stays_high_is_not_verified_and_escalates(
    client: TestClient, daemon: Application, service: tuple[Service, TestServer]
) -> None:
    svc, _ = service
    svc.error_rate_after_scale = 0.2
    await fire(client, daemon, "HighErrorRate", deployment="search")

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.FAILED
    assert ex.error == "not verified: metric not under 0.01 10m after the action (still 0.2)"
    assert [e["details"]["rule"] for e in svc.escalations] == ["scale-on-errors"]
