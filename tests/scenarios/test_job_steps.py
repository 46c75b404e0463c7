"""End to end: `run_job` (FLUSHDB) through the whole daemon against the fake cluster's Job controller,
with the evidence it captured in the incident's postmortem draft."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.model import ExecutionStatus
from remediator.override.incidents import postmortem_markdown, with_durations
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth

RULES = """
rules:
  - name: flush-corrupted-cache
    match: ['alertname = "CacheCorrupted"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - run_job:
          image: bitnami/redis:7.2
          command: [redis-cli, -h, redis-master, -n, "{{ labels.cache_db }}", FLUSHDB]
          env: {REDISCLI_AUTH: {secret: redis-auth, key: password}}
          active_deadline: 2m
          log_lines: 5
    guards: {approval: APPROVAL}
    on_failure:
      - webhook: {url: "ESCALATE"}
"""


@pytest.fixture
async def escalations(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[list[Any], str]:
    got: list[Any] = []

    async def record(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/escalate", record)
    server = await aiohttp_server(app, host="127.0.0.1")
    return got, f"http://127.0.0.1:{server.port}/escalate"


def make_settings(settings: Settings, tmp_path: Path, url: str, *, approval: bool) -> Settings:
    rules = tmp_path / "job-rules"
    rules.mkdir(exist_ok=True)
    text = textwrap.dedent(RULES).replace("ESCALATE", url).replace("APPROVAL", str(approval).lower())
    (rules / "rules.yaml").write_text(text)
    return settings.model_copy(update={"rules": (rules,)})


@pytest.fixture
async def daemon(
    settings: Settings, clock: FakeClock, tmp_path: Path, escalations: tuple[list[Any], str]
) -> AsyncIterator[Application]:
    async with open_app(
        make_settings(settings, tmp_path, escalations[1], approval=False), clock=clock
    ) as app:
        yield app


async def fire(client: TestClient, daemon: Application, cache_db: str = "0") -> None:
    alert = am_alert("CacheCorrupted", deployment="image-gen", cache_db=cache_db)
    resp = await client.post("/webhook/alertmanager", data=am_payload(alert), headers=auth())
    assert resp.status == 202, await resp.text()
    await daemon.drained(timeout_s=30)


async def test_flushdb_job_runs_and_its_log_and_the_evidence_reach_the_postmortem(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, clock: FakeClock
) -> None:
    fake_kube.set_pod_outcome("succeed", namespace="shop", image="bitnami/redis:7.2", log="OK")
    await fire(client, daemon)

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.SUCCEEDED, ex.error
    job_name = f"rmd-{ex.id}-0-flush-corrupted-cache"
    assert ex.summary == f"Job {job_name} in shop completed: redis-cli -h redis-master -n 0 FLUSHDB"
    [change] = ex.changes
    assert change["after"]["log"] == ["OK"]
    assert change["after"]["env"] == {"REDISCLI_AUTH": "<secret redis-auth/password>"}
    [job] = fake_kube.list("Job", "shop")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][4] == "0"

    incidents = await daemon.journal.list_incidents()
    [incident] = incidents.items
    timeline = await daemon.journal.incident_timeline(incident["id"])
    assert timeline is not None
    moments = [e["moment"] for e in timeline["events"] if e["type"] == "evidence"]
    assert moments == ["before acting", "after run_job"]
    md = postmortem_markdown(with_durations(timeline, now=clock.now()))
    assert "## Evidence" in md
    assert "UTC: before acting (shop/Deployment/image-gen, execution #" in md
    assert "| image-gen-" in md, "the pods table lists the target's pods"
    assert "Evidence after run_job (execution \\#" in md


async def test_a_hostile_label_never_reaches_the_job(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer
) -> None:
    await fire(client, daemon, cache_db="0\nFLUSHALL")
    [decision] = await daemon.journal.decisions()
    assert decision["outcome"] == "invalid_target"
    assert (
        "command[4]: rendered value '0\\nFLUSHALL' contains a newline or a control character"
        in decision["reason"]
    )
    assert fake_kube.list("Job", "shop") == []


async def test_a_failed_job_fails_the_execution_and_escalates(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, escalations: tuple[list[Any], str]
) -> None:
    fake_kube.set_pod_outcome(
        "fail",
        namespace="shop",
        image="bitnami/redis:7.2",
        exit_code=1,
        log="NOAUTH Authentication required.",
    )
    await fire(client, daemon)

    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.FAILED
    assert ex.error is not None and "failed (BackoffLimitExceeded); last log lines: NOAUTH" in ex.error
    [sent] = escalations[0]
    assert sent["details"]["rule"] == "flush-corrupted-cache" and "NOAUTH" in sent["details"]["reason"]
    incidents = await daemon.journal.list_incidents()
    timeline = await daemon.journal.incident_timeline(incidents.items[0]["id"])
    assert timeline is not None
    assert [e["moment"] for e in timeline["events"] if e["type"] == "evidence"] == [
        "before acting",
        "after run_job failed",
    ]


async def test_dry_run_plans_the_job_and_creates_nothing(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer
) -> None:
    daemon.mode.dry_run = True
    await fire(client, daemon)
    [ex] = await daemon.journal.executions()
    assert ex.status is ExecutionStatus.PLANNED
    assert ex.summary.startswith("would run Job remediator-image-gen in shop: bitnami/redis:7.2 redis-cli")
    assert fake_kube.list("Job", "shop") == []


async def test_with_approval_the_job_waits_for_a_human(
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
    fake_kube: FakeKubeServer,
    escalations: tuple[list[Any], str],
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    from remediator.api import build_web_app

    fake_kube.set_pod_outcome("succeed", namespace="shop", image="bitnami/redis:7.2", log="OK")
    async with open_app(make_settings(settings, tmp_path, escalations[1], approval=True), clock=clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))
        await fire(client, app)
        assert fake_kube.list("Job", "shop") == []
        [pending] = await app.journal.approvals(status="pending")
        assert app.operator is not None
        await app.operator.approve(actor="alice", approval_id=int(pending["id"]), reason="cache is corrupt")
        await app.drained(timeout_s=30)
        [ex] = await app.journal.executions()
        assert ex.status is ExecutionStatus.SUCCEEDED, ex.error
        assert len(fake_kube.list("Job", "shop")) == 1
