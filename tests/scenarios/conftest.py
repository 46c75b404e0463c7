"""The whole daemon, in-process: real journal, real kubernetes-asyncio against the fake API server."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import AuthSettings, JournalSettings, KubeSettings, SecretRef, Settings
from remediator.testing.fake_kube import FakeKubeServer

TOKEN = "test-webhook-token"
# The captured fixtures fired around this time; the daemon's clock is pinned here so that
# they are fresh alerts whatever the machine's date (the stale-alert guard would skip them).
FIXTURES_NOW = datetime(2026, 11, 23, 0, 1, tzinfo=UTC)
RULES = """
rules:
  - name: rollback-on-5xx
    description: 5xx above 10/min soon after a deploy -> roll back
    match: ['alertname = "HighErrorRate"']
    when: value > 10/min
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - rollout_undo: {only_if_rolled_out_within: 2h}
    guards: {cooldown: 15m}
  - name: restart-on-auth-failures
    match: ['alertname = "AuthFailures"', 'status_code =~ "401|403"']
    when: value > 0
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - rollout_restart: {}
  - name: scale-on-latency
    match: ['alertname = "HighLatency"']
    when: value > 5s
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - scale: {by: 2, min: 2, max: 6}
  - name: queue-mode-on-429
    match: ['alertname = "RateLimited"']
    when: value > 5/min
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - set_env: {name: RATE_LIMIT_MODE, value: queue}
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "test.yaml").write_text(textwrap.dedent(RULES))
    return d


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FIXTURES_NOW)


@pytest.fixture
async def fake_kube(clock: FakeClock) -> AsyncIterator[FakeKubeServer]:
    now = clock.now()
    async with FakeKubeServer(clock=clock.now) as kube:
        kube.add_namespace("shop")
        kube.add_deployment(
            "shop",
            "checkout",
            image="checkout:v2",
            revisions=["checkout:v1"],
            rolled_out_at=now - timedelta(minutes=20),
        )
        for name in ("image-gen", "image-gen-worker", "search"):
            kube.add_deployment(
                "shop",
                name,
                image=f"{name}:v1",
                replicas=2,
                env={"RATE_LIMIT_MODE": "direct", "LOG_LEVEL": "info"},
            )
        yield kube


@pytest.fixture
def settings(
    tmp_path: Path, fake_kube: FakeKubeServer, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    return Settings(
        auth=AuthSettings(webhook_token=SecretRef(env="TEST_WEBHOOK_TOKEN"), api_tokens=()),
        journal=JournalSettings(path=tmp_path / "journal.sqlite", synchronous="normal"),
        kubernetes=KubeSettings(mode="kubeconfig", kubeconfig=kubeconfig, call_timeout=2.0),
        rules=(rules_dir,),
    )


@pytest.fixture
async def daemon(settings: Settings, clock: FakeClock) -> AsyncIterator[Application]:
    async with open_app(settings, clock=clock) as app:
        yield app


Post = Callable[..., Awaitable[Any]]


@pytest.fixture
async def client(daemon: Application, aiohttp_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await aiohttp_client(build_web_app(daemon.api_state()))


def auth(token: str = TOKEN) -> dict[str, str]:
    """What Alertmanager sends: its bearer token and a JSON content type."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def fixture_body(examples_dir: Path, name: str) -> bytes:
    return (examples_dir / "alerts" / name).read_bytes()


def fixture_json(examples_dir: Path, name: str) -> dict[str, Any]:
    return json.loads(fixture_body(examples_dir, name))


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition, 0.0 if absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def am_alert(
    name: str = "HighErrorRate",
    *,
    deployment: str = "checkout",
    namespace: str = "shop",
    status: str = "firing",
    starts_at: datetime = FIXTURES_NOW,
    value: str = "42",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "namespace": namespace, "deployment": deployment, **labels},
        "annotations": {"value": value, "summary": f"{name} on {namespace}/{deployment}"},
        "startsAt": starts_at.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z"
        if status == "firing"
        else (starts_at + timedelta(minutes=10)).isoformat(),
        "generatorURL": "",
        "fingerprint": "",
    }


def am_payload(*alerts: dict[str, Any]) -> str:
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "status": alerts[0]["status"],
            "receiver": "remediator",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "",
            "truncatedAlerts": 0,
            "alerts": list(alerts),
        }
    )
