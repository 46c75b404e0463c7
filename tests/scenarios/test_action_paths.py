"""End to end, every runbook action of issue #12 down each of its paths: plan, act, verify, fail, escalate.

One matrix instead of one module per action: the whole daemon (journal, guards, approval, runner,
verification, escalation) runs against the fake cluster, and a local service on 127.0.0.1 plays the
application (admin and health endpoints) and the escalation webhook, recording what it was sent.
Each case says what a user sees: the execution's status and summary in the journal, what changed in
the cluster (or the service), and the page that was sent.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import HttpActionSettings, Settings
from remediator.model import ExecutionStatus
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth

HEALTH = """
    verify:
      healthy:
        http: {url: "http://127.0.0.1:PORT/health/{{ labels.deployment }}", condition: ok == true}
        within: 2m"""
ESCALATE = """
    on_failure:
      - webhook: {url: "http://127.0.0.1:PORT/escalate"}"""


def rule(name: str, action: str, *, verify: str = HEALTH, guards: str = "{}") -> str:
    return f"""
  - name: {name}
    match: ['alertname = "{name}"']
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions:
      - {action}
    guards: {guards}{verify}{ESCALATE}"""


RULES = "rules:" + "".join(
    (
        rule(
            "hotfix-image",
            "set_image: {image: registry.io/shop/checkout:v2-hotfix1}",
            verify="\n    verify: {rollout_complete_within: 5m}",
        ),
        rule("pause-canary", "pause_rollout"),
        rule("resume-canary", "resume_rollout"),
        rule(
            "contain",
            "scale: {to: 0, allow_zero: true}",
            guards="{approval: true, retry: {attempts: 1, backoff: 1s..1s}}",
        ),
        rule(
            "maintenance",
            'http_request: {url: "http://127.0.0.1:PORT/admin/{{ labels.deployment }}/maintenance",'
            " body: {enabled: true}}",
            guards="{retry: {attempts: 1, backoff: 1s..1s}}",
        ),
        rule(
            "flush-cache",
            "run_job: {image: bitnami/redis:7.2, command: [redis-cli, FLUSHDB], active_deadline: 2m}",
        ),
    )
)


@dataclass
class Service:
    """The application's endpoints and the escalation webhook: what they answer, what they got."""

    healthy: bool = True
    maintenance_status: int = 200
    maintenance: list[str] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def maintenance(request: web.Request) -> web.Response:
            self.maintenance.append(request.raw_path)
            return web.json_response({}, status=self.maintenance_status)

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"ok": self.healthy})

        async def escalate(request: web.Request) -> web.Response:
            self.pages.append(await request.json())
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/admin/{service}/maintenance", maintenance)
        app.router.add_get("/health/{service}", health)
        app.router.add_post("/escalate", escalate)
        return app


@dataclass(frozen=True, kw_only=True)
class Case:
    """One action: how to fire it, how to make it fail, and what a user sees of it."""

    rule: str
    deployment: str
    planned: str
    """The dry-run plan's summary (PORT and JOB are filled in)."""
    done: str
    """The successful execution's summary before `; verified: ...`."""
    verified: str
    not_verified: str
    failed: str
    """A fragment of the failed execution's error, also in the page's reason."""
    refused_before_acting: bool = True
    """A failure leaves the world as it was (an API server's refusal), not an attempt that ran."""

    def changed(self, kube: FakeKubeServer, svc: Service) -> Any:
        """The part of the world the action changes, to compare before and after."""
        dep = kube.get("Deployment", "shop", self.deployment)
        assert dep is not None
        spec = dep["spec"]
        return {
            "hotfix-image": lambda: spec["template"]["spec"]["containers"][0]["image"],
            "pause-canary": lambda: bool(spec.get("paused")),
            "resume-canary": lambda: bool(spec.get("paused")),
            "contain": lambda: spec["replicas"],
            "maintenance": lambda: list(svc.maintenance),
            "flush-cache": lambda: [j["metadata"]["name"] for j in kube.list("Job", "shop")],
        }[self.rule]()


UNHEALTHY = "not verified: not healthy 2m after the action (unhealthy: GET http://127.0.0.1:PORT/health/"

CASES = [
    Case(
        rule="hotfix-image",
        deployment="checkout",
        planned="would set image of shop/Deployment/checkout container app: "
        "checkout:v2 -> registry.io/shop/checkout:v2-hotfix1",
        done="set image of shop/Deployment/checkout container app: "
        "checkout:v2 -> registry.io/shop/checkout:v2-hotfix1",
        verified="verified: rollout complete",
        not_verified="not verified: rollout not complete",
        failed="forbidden: cannot patch deployments.apps",
    ),
    Case(
        rule="pause-canary",
        deployment="checkout",
        planned="would pause the rollout of shop/Deployment/checkout",
        done="paused the rollout of shop/Deployment/checkout",
        verified="verified: health check passed",
        not_verified=UNHEALTHY,
        failed="forbidden: cannot patch deployments.apps",
    ),
    Case(
        rule="resume-canary",
        deployment="canary",
        planned="would resume the rollout of shop/Deployment/canary",
        done="resumed the rollout of shop/Deployment/canary",
        verified="verified: health check passed",
        not_verified=UNHEALTHY,
        failed="forbidden: cannot patch deployments.apps",
    ),
    Case(
        rule="contain",
        deployment="checkout",
        planned="would scale shop/Deployment/checkout 2 -> 0 (min 0)",
        done="scaled shop/Deployment/checkout 2 -> 0 (min 0)",
        verified="verified: health check passed",
        not_verified=UNHEALTHY,
        failed="forbidden: cannot patch deployments.apps",
    ),
    Case(
        rule="maintenance",
        deployment="checkout",
        planned="would POST http://127.0.0.1:PORT/admin/checkout/maintenance (expect 200/201/202/204)",
        done="POST http://127.0.0.1:PORT/admin/checkout/maintenance -> 200",
        verified="verified: health check passed",
        not_verified=UNHEALTHY,
        failed="answered 403 (want 200/201/202/204)",
        refused_before_acting=False,  # the service got the request and said no
    ),
    Case(
        rule="flush-cache",
        deployment="checkout",
        planned="would run Job remediator-checkout in shop: bitnami/redis:7.2 redis-cli FLUSHDB",
        done="Job JOB in shop completed: redis-cli FLUSHDB",
        verified="verified: health check passed",
        not_verified=UNHEALTHY,
        failed="failed (BackoffLimitExceeded); last log lines: NOAUTH",
        refused_before_acting=False,  # the Job ran and failed
    ),
]
IDS = [c.rule for c in CASES]


@pytest.fixture
async def service(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[Service, TestServer]:
    svc = Service()
    return svc, await aiohttp_server(svc.app(), host="127.0.0.1")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, service: tuple[Service, TestServer]) -> Settings:
    rules = tmp_path / "action-rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(textwrap.dedent(RULES).replace("PORT", str(service[1].port)))
    return settings.model_copy(
        update={"rules": (rules,), "http_actions": HttpActionSettings(allowed_hosts=("127.0.0.1",))}
    )


@pytest.fixture
async def daemon(
    settings: Settings, clock: FakeClock, fake_kube: FakeKubeServer
) -> AsyncIterator[Application]:
    fake_kube.add_deployment("shop", "canary", image="canary:v2", revisions=["canary:v1"], paused=True)
    fake_kube.set_pod_outcome("succeed", namespace="shop", image="bitnami/redis:7.2", log="OK")
    async with open_app(settings, clock=clock) as app:
        yield app


async def fire(client: TestClient, daemon: Application, case: Case) -> None:
    """The alert, then (for a rule that needs one) a human's approval, then wait for the outcome."""
    alert = am_alert(case.rule, deployment=case.deployment)
    resp = await client.post("/webhook/alertmanager", data=am_payload(alert), headers=auth())
    assert resp.status == 202, await resp.text()
    await daemon.drained(timeout_s=30)
    pending = await daemon.journal.approvals(status="pending")
    if pending:
        assert case.rule == "contain", "only containment waits for a human"
        assert await daemon.journal.executions() == [], "nothing runs before the approval"
        assert daemon.operator is not None
        await daemon.operator.approve(actor="alice", approval_id=int(pending[0]["id"]), reason="contain")
        await daemon.drained(timeout_s=30)


def text(s: str, server: TestServer, job: str = "") -> str:
    return s.replace("PORT", str(server.port)).replace("JOB", job)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_dry_run_plans_and_changes_nothing(
    case: Case,
    client: TestClient,
    daemon: Application,
    fake_kube: FakeKubeServer,
    service: tuple[Service, TestServer],
) -> None:
    svc, server = service
    before = case.changed(fake_kube, svc)
    daemon.mode.dry_run = True
    await fire(client, daemon, case)

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.PLANNED, ex.error
    assert ex.summary == text(case.planned, server)
    assert case.changed(fake_kube, svc) == before
    assert svc.pages == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_acts_and_verifies(
    case: Case,
    client: TestClient,
    daemon: Application,
    fake_kube: FakeKubeServer,
    service: tuple[Service, TestServer],
) -> None:
    svc, server = service
    before = case.changed(fake_kube, svc)
    await fire(client, daemon, case)

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.SUCCEEDED, ex.error
    job = f"rmd-{ex.id}-0-{case.rule}"
    assert ex.summary == f"{text(case.done, server, job)}; {case.verified}"
    assert case.changed(fake_kube, svc) != before
    assert svc.pages == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_an_unverified_action_escalates(
    case: Case,
    client: TestClient,
    daemon: Application,
    fake_kube: FakeKubeServer,
    service: tuple[Service, TestServer],
) -> None:
    svc, server = service
    before = case.changed(fake_kube, svc)
    svc.healthy = False
    # the hotfix's pods crash, so its rollout never completes
    fake_kube.set_pod_outcome("crash", namespace="shop", image="registry.io/shop/checkout:v2-hotfix1")
    await fire(client, daemon, case)

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.FAILED
    assert ex.error is not None and ex.error.startswith(text(case.not_verified, server)), ex.error
    assert case.changed(fake_kube, svc) != before, "the action itself was taken"
    [page] = svc.pages
    assert page["details"]["rule"] == case.rule
    assert page["details"]["reason"].startswith(text(case.not_verified, server))


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_failed_action_escalates(
    case: Case,
    client: TestClient,
    daemon: Application,
    fake_kube: FakeKubeServer,
    service: tuple[Service, TestServer],
) -> None:
    svc, _ = service
    before = case.changed(fake_kube, svc)
    fake_kube.inject(status=403, method="PATCH", path=f"/deployments/{case.deployment}", times=20)
    fake_kube.inject(status=403, method="PUT", path=f"/deployments/{case.deployment}", times=20)
    svc.maintenance_status = 403
    fake_kube.set_pod_outcome(
        "fail", namespace="shop", image="bitnami/redis:7.2", log="NOAUTH Authentication required."
    )
    await fire(client, daemon, case)

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.FAILED
    assert ex.error is not None and case.failed in ex.error, ex.error
    after = case.changed(fake_kube, svc)
    assert (after == before) is case.refused_before_acting, after
    [page] = svc.pages
    assert page["details"]["rule"] == case.rule
    assert case.failed in page["details"]["reason"]
