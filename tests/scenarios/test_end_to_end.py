"""End to end: post real Alertmanager payloads, see what the cluster received, the journal and /metrics."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp.test_utils import TestClient

from remediator.app import Application
from remediator.model import ExecutionStatus
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import auth, fixture_body, fixture_json, metric


def images(kube: FakeKubeServer, name: str) -> list[str]:
    dep = kube.get("Deployment", "shop", name)
    assert dep is not None
    return [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]


async def test_firing_5xx_rolls_back_and_shows_everywhere(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    resp = await client.post(
        "/webhook/alertmanager", data=fixture_body(examples_dir, "firing.json"), headers=auth()
    )
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["alerts"] == 1
    await daemon.drained()

    assert images(fake_kube, "checkout") == ["checkout:v1"], "rolled back to the previous revision"
    patches = [w for w in fake_kube.writes if w.method == "PATCH"]
    assert len(patches) == 1 and patches[0].content_type == "application/json-patch+json"

    [ex] = await daemon.journal.executions()
    assert ex.rule == "rollback-on-5xx" and ex.status is ExecutionStatus.SUCCEEDED
    assert ex.target == "shop/Deployment/checkout"
    assert "42.5" in ex.reason
    assert any(c["before"] == "checkout:v2" and c["after"] == "checkout:v1" for c in ex.changes), ex.changes

    text = await (await client.get("/metrics")).text()
    assert metric(text, "remediator_alerts_received_total", source="alertmanager", status="firing") == 1
    assert metric(text, "remediator_decisions_total", rule="rollback-on-5xx", outcome="act") == 1
    assert metric(text, "remediator_executions_total", action="rollout_undo", status="succeeded") == 1
    assert metric(text, "remediator_rules_loaded") == 4


async def test_repeat_inside_cooldown_is_journaled_not_acted(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    for _ in range(3):  # Alertmanager re-sends the same episode every group_interval
        resp = await client.post(
            "/webhook/alertmanager", data=fixture_body(examples_dir, "firing.json"), headers=auth()
        )
        assert resp.status == 202
        await daemon.drained()
    new_episode = fixture_json(examples_dir, "firing.json")
    new_episode["alerts"][0]["startsAt"] = "2026-11-23T00:05:00Z"
    resp = await client.post("/webhook/alertmanager", data=json.dumps(new_episode), headers=auth())
    assert resp.status == 202
    await daemon.drained()
    assert len([w for w in fake_kube.writes if w.method == "PATCH"]) == 1
    assert await daemon.journal.decision_counts() == {"act": 1, "duplicate": 2, "cooldown": 1}


async def test_resolved_alert_never_acts(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    resp = await client.post(
        "/webhook/alertmanager", data=fixture_body(examples_dir, "resolved.json"), headers=auth()
    )
    assert resp.status == 202
    await daemon.drained()
    assert fake_kube.writes == []
    assert await daemon.journal.decision_counts() == {"resolved": 1}


async def test_grouped_auth_failures_restart_each_deployment(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    body = fixture_body(examples_dir, "grouped-auth-failures.json")
    assert (await client.post("/webhook/alertmanager", data=body, headers=auth())).status == 202
    await daemon.drained()
    for name in ("image-gen", "image-gen-worker", "search"):
        dep = fake_kube.get("Deployment", "shop", name)
        assert dep is not None
        assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"]["annotations"], name
    assert await daemon.journal.decision_counts() == {"act": 3}


async def test_latency_scales_up_within_bounds(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    body = fixture_body(examples_dir, "high-latency.json")
    assert (await client.post("/webhook/alertmanager", data=body, headers=auth())).status == 202
    await daemon.drained()
    dep = fake_kube.get("Deployment", "shop", "search")
    assert dep is not None and dep["spec"]["replicas"] == 4
    assert any("/scale" in w.path for w in fake_kube.writes)


async def test_rate_limited_switches_to_queue_mode_keeping_other_env(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    body = fixture_body(examples_dir, "rate-limited.json")
    assert (await client.post("/webhook/alertmanager", data=body, headers=auth())).status == 202
    await daemon.drained()
    dep = fake_kube.get("Deployment", "shop", "image-gen")
    assert dep is not None
    env = {e["name"]: e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"RATE_LIMIT_MODE": "queue", "LOG_LEVEL": "info"}


async def test_threshold_not_met_is_recorded_with_reason(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    payload = fixture_json(examples_dir, "firing.json")
    payload["alerts"][0]["annotations"]["value"] = "3"
    resp = await client.post("/webhook/alertmanager", data=json.dumps(payload), headers=auth())
    assert resp.status == 202
    await daemon.drained()
    assert fake_kube.writes == []
    [d] = await daemon.journal.decisions()
    assert d["outcome"] == "condition_false" and "3" in d["reason"] and "10/min" in d["reason"]


async def test_invalid_rendered_name_is_skipped_with_reason(
    client: TestClient, daemon: Application, fake_kube: FakeKubeServer, examples_dir: Path
) -> None:
    payload = fixture_json(examples_dir, "firing.json")
    payload["alerts"][0]["labels"]["deployment"] = "Checkout_API; rm -rf /"
    resp = await client.post("/webhook/alertmanager", data=json.dumps(payload), headers=auth())
    assert resp.status == 202
    await daemon.drained()
    assert fake_kube.writes == []
    [d] = await daemon.journal.decisions()
    assert d["outcome"] == "invalid_target" and "not a valid Kubernetes name" in d["reason"]
