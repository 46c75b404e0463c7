"""A whole daemon with override-API tokens (admin, reader), its own rules and the fake API server.

Built as tests/scenarios/conftest.py builds its daemon (real journal, real kubernetes-asyncio
against the fake API server, a FakeClock at the fixtures' time), with named tokens so the audit
trail has names to show.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import ApiToken, AuthSettings, JournalSettings, KubeSettings, SecretRef, Settings
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import FIXTURES_NOW, TOKEN, am_alert, am_payload  # noqa: F401 (re-exported)

ADMIN = "admin-secret-token"
READER = "reader-secret-token"
ADMIN_NAME = "alice"
READER_NAME = "viewer"

RULES = """
rules:
  - name: restart-on-errors
    description: restart the deployment on 5xx
    severity: P2
    match: ['alertname = "HighErrorRate"', 'severity = "critical"']
    when: value > 10/min
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - rollout_restart: {}
    guards: {cooldown: 2m}
  - name: scale-workers
    match: ['alertname = "QueueBacklog"']
    target: {kind: Deployment, namespace: shop, name: "{{ labels.service }}-worker"}
    actions:
      - scale: {by: 1, max: 4}
  - name: flush-cache
    description: dangerous, so a human approves it
    match: ['alertname = "CacheStale"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - rollout_restart: {}
    guards: {approval: true}
"""


@pytest.fixture
def api_rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "api-rules"
    d.mkdir()
    (d / "rules.yaml").write_text(textwrap.dedent(RULES))
    return d


@pytest.fixture
def api_clock() -> FakeClock:
    return FakeClock(FIXTURES_NOW)


@pytest.fixture
async def api_kube(api_clock: FakeClock) -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(clock=api_clock.now) as kube:
        kube.add_namespace("shop")
        for name in ("checkout", "search", "image-gen", "image-gen-worker"):
            kube.add_deployment("shop", name, image=f"{name}:v1", replicas=2)
        yield kube


@pytest.fixture
def api_settings(
    tmp_path: Path, api_kube: FakeKubeServer, api_rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("TEST_READER_TOKEN", READER)
    return Settings(
        auth=AuthSettings(
            webhook_token=SecretRef(env="TEST_WEBHOOK_TOKEN"),
            api_tokens=(
                ApiToken(name=ADMIN_NAME, scope="admin", env="TEST_ADMIN_TOKEN"),
                ApiToken(name=READER_NAME, scope="read", env="TEST_READER_TOKEN"),
            ),
        ),
        journal=JournalSettings(path=tmp_path / "journal.sqlite", synchronous="normal"),
        kubernetes=KubeSettings(
            mode="kubeconfig", kubeconfig=api_kube.write_kubeconfig(tmp_path / "kubeconfig"), call_timeout=2.0
        ),
        rules=(api_rules_dir,),
    )


@pytest.fixture
async def api_app(api_settings: Settings, api_clock: FakeClock) -> AsyncIterator[Application]:
    async with open_app(api_settings, clock=api_clock) as app:
        yield app


@dataclass
class Api:
    """The daemon's HTTP side, with the tokens at hand."""

    client: TestClient
    app: Application
    clock: FakeClock
    kube: FakeKubeServer

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = ADMIN, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await self.client.request(
            method, "/api/v1" + path, json=body, headers=headers, allow_redirects=False, **kw
        )
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kw)

    async def alert(self, *alerts: dict[str, Any]) -> None:
        """Post alerts through the real webhook and wait until they are decided and executed."""
        resp = await self.client.post(
            "/webhook/alertmanager",
            data=am_payload(*alerts),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert resp.status == 202, await resp.text()
        await self.app.drained()

    async def metrics(self) -> str:
        resp = await self.client.get("/metrics")
        return await resp.text()


@pytest.fixture
async def api(
    api_app: Application,
    api_clock: FakeClock,
    api_kube: FakeKubeServer,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> Api:
    client = await aiohttp_client(build_web_app(api_app.api_state()))
    return Api(client=client, app=api_app, clock=api_clock, kube=api_kube)
