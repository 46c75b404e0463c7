"""End to end: the evidence remediator captures from the cluster reaches the incident's postmortem draft.

A crash-looping Deployment is restarted by the daemon; the Markdown postmortem on-call downloads
(`GET /api/v1/incidents/{id}/timeline?format=markdown`) must show what the cluster looked like: pod
statuses and restart counts, Events, the failing pod's last log lines and the rollout history, with a
credential in a log line redacted, and neither a log line nor an alert label able to shape the document.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import ApiToken, AuthSettings, Settings
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth

READER = "postmortem-reader-token"
PASSWORD = "s3cr3t-pw"
HOSTILE_LOG = "\n".join(
    (
        "starting",
        f"connecting to postgres://app:{PASSWORD}@db:5432/app",
        "````",
        "# Injected heading",
        "<script>alert(1)</script> | ![x](https://evil.example/x.png)",
        "panic: pool exhausted",
    )
)
RULES = """
rules:
  - name: restart-crash-loop
    match: ['alertname = "KubePodCrashLooping"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("POSTMORTEM_READER_TOKEN", READER)
    rules = tmp_path / "evidence-rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(textwrap.dedent(RULES))
    reader = ApiToken(name="reader", scope="read", env="POSTMORTEM_READER_TOKEN")
    auth_settings = AuthSettings(webhook_token=settings.auth.webhook_token, api_tokens=(reader,))
    return settings.model_copy(update={"rules": (rules,), "auth": auth_settings})


@pytest.fixture
async def daemon(
    settings: Settings, clock: FakeClock, fake_kube: FakeKubeServer
) -> AsyncIterator[Application]:
    fake_kube.add_deployment("shop", "api", image="api:v2", revisions=["api:v1"], replicas=2)
    fake_kube.complete_rollouts()
    fake_kube.set_pod_outcome("crash", namespace="shop", selector="app=api", log=HOSTILE_LOG)
    await clock.sleep(120)  # a few restarts before the alert
    async with open_app(settings, clock=clock) as app:
        yield app


@pytest.fixture
async def client(daemon: Application, aiohttp_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await aiohttp_client(build_web_app(daemon.api_state()))


async def test_the_postmortem_lists_the_evidence_redacted_and_escaped(
    client: TestClient, daemon: Application
) -> None:
    alert = am_alert(
        "KubePodCrashLooping",
        deployment="api",
        team="<img src=x onerror=alert(1)>\n## Injected from a label",
    )
    resp = await client.post("/webhook/alertmanager", data=am_payload(alert), headers=auth())
    assert resp.status == 202, await resp.text()
    await daemon.drained(timeout_s=30)

    reader = {"Authorization": f"Bearer {READER}"}
    listed = await client.get("/api/v1/incidents", headers=reader)
    assert listed.status == 200, await listed.text()
    [incident] = (await listed.json())["incidents"]
    resp = await client.get(f"/api/v1/incidents/{incident['id']}/timeline?format=markdown", headers=reader)
    assert resp.status == 200 and resp.content_type == "text/markdown"
    md = await resp.text()
    lines = md.splitlines()

    # Both captures, each with its section
    assert "## Evidence" in lines
    captures = [line for line in lines if line.startswith("### ")]
    assert any("UTC: before acting (shop/Deployment/api, execution #" in c for c in captures), captures
    assert any("UTC: after rollout_restart (shop/Deployment/api, execution #" in c for c in captures), (
        captures
    )

    # pod statuses and restart counts
    pods = [line for line in lines if line.startswith("| api-")]
    assert pods, md
    assert any("CrashLoopBackOff" in row and "| no |" in row for row in pods), pods
    assert any(int(row.split(" | ")[3]) > 0 for row in pods), "restart counts"
    # Events: at least remediator's own record of the restart
    assert "| last seen | object | type | reason | count | message |" in lines
    assert any("| Remediated |" in line and "restarted" in line for line in lines), md
    # the failing pod's last log lines, in a fence no line can close, the password redacted
    assert any(line.startswith("Last ") and "(previous container" in line for line in lines), md
    assert "panic: pool exhausted" in lines
    assert "connecting to postgres://app:[REDACTED]@db:5432/app" in lines
    assert PASSWORD not in md
    fence = "`````"
    assert fence in lines, "the fence is longer than the log's own backtick run"
    # the rollout history
    assert "| revision | images | created | replicas |" in lines
    assert any(line.startswith("| 2 | api:v2 | ") for line in lines), md
    assert any(line.startswith("| 1 | api:v1 | ") and line.endswith(" | 0 |") for line in lines), md

    # nothing from a log line or a label shapes the document
    outside = [line for line in lines if not _in_fence(lines, line)]
    headings = [line for line in outside if line.startswith("#")]
    assert headings[0] == "# Postmortem: KubePodCrashLooping on shop/api"
    assert [h for h in headings[1:] if not h.startswith("### ")] == [
        "## Summary",
        "## Timeline",
        "## Evidence",
        "## Impact",
        "## Root cause",
        "## Action items",
    ], headings
    assert len(captures) == 2, "one subsection per capture, none injected"
    for raw in ("<script", "<img", "![x]("):
        assert not any(raw in line for line in outside), raw
    assert "team=&lt;img src=x onerror=alert(1)> \\#\\# Injected from a label" in md, "the label, escaped"


def _in_fence(lines: list[str], target: str) -> bool:
    """Whether every occurrence of `target` is inside a code fence."""
    inside, fence, found = False, "", []
    for line in lines:
        if not inside and line.startswith("```"):
            inside, fence = True, line
            continue
        if inside and line == fence:
            inside = False
            continue
        if line == target:
            found.append(inside)
    return bool(found) and all(found)
