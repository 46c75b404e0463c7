"""Several replicas on one PostgreSQL journal, in one process: any replica takes any webhook, and
whichever decides, one alert makes one action.

Each replica is a whole `open_app` (its own guards, processor, runner) on the same database and the
same fake cluster, as pods would be. The subprocess scenarios (`test_replicas_processes.py`) add
what only separate processes show: SIGKILL, rolling restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import AuthSettings, JournalSettings, KubeSettings, SecretRef, Settings
from remediator.testing.fake_kube import FakeKubeServer
from tests.pgserver import PASSWORD_ENV, PgCluster
from tests.scenarios.conftest import TOKEN, am_alert, am_payload, auth

TARGETS = 12
RESTART_RULES = """
rules:
  - name: restart-on-auth-failures
    match: ['alertname = "AuthFailures"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    guards: {cooldown: 15m, max_actions: {count: 100, per: 1h}}
"""


@pytest.fixture
def replica_settings(
    tmp_path: Path, fake_kube: FakeKubeServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    rules = tmp_path / "replica-rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(RESTART_RULES)
    for i in range(TARGETS):
        fake_kube.add_deployment("shop", f"svc-{i}", image="svc:v1")
    return Settings.model_validate(
        {
            "auth": AuthSettings(webhook_token=SecretRef(env="TEST_WEBHOOK_TOKEN"), api_tokens=()),
            "journal": JournalSettings(url=pg_url, password=SecretRef(env=PASSWORD_ENV), lease=30.0),
            "kubernetes": KubeSettings(
                mode="kubeconfig", kubeconfig=fake_kube.write_kubeconfig(tmp_path / "kc")
            ),
            "guards": {
                "max_actions_global": None,
                "storm_brake": None,
                "max_actions_per_rule": None,
                "max_in_flight": 100,
                "max_in_flight_per_namespace": 100,
            },
            "rules": (rules,),
        }
    )


@contextlib.asynccontextmanager
async def replicas(
    settings: Settings, clock: FakeClock, n: int, aiohttp_client: Callable[..., object]
) -> AsyncIterator[list[tuple[Application, TestClient]]]:
    async with contextlib.AsyncExitStack() as stack:
        out = []
        for _ in range(n):
            app = await stack.enter_async_context(open_app(settings, clock=clock))
            client = await aiohttp_client(build_web_app(app.api_state()))  # type: ignore[operator]
            out.append((app, client))
        yield out


async def journal_rows(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, password=os.environ[PASSWORD_ENV])
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def settled(url: str, *, payloads: int, timeout_s: float = 30.0) -> None:
    """Every payload decided and every execution ended, on whichever replica."""
    async with asyncio.timeout(timeout_s):
        while True:
            [row] = await journal_rows(
                url,
                "SELECT (SELECT count(*) FROM payloads WHERE processed_at IS NOT NULL),"
                " (SELECT count(*) FROM executions WHERE status IN ('pending', 'running'))",
            )
            if row[0] >= payloads and row[1] == 0:
                return
            await asyncio.sleep(0.05)


def restarts(kube: FakeKubeServer) -> list[str]:
    return sorted(r.path for r in kube.writes if r.method == "PATCH")


async def post_all(clients: Sequence[TestClient], bodies: Sequence[str]) -> None:
    async def post(client: TestClient, body: str) -> None:
        resp = await client.post("/webhook/alertmanager", data=body, headers=auth())
        assert resp.status == 202, await resp.text()

    await asyncio.gather(*(post(clients[i % len(clients)], b) for i, b in enumerate(bodies)))


async def test_the_same_alert_at_two_replicas_at_once_acts_once(
    replica_settings: Settings,
    clock: FakeClock,
    fake_kube: FakeKubeServer,
    pg_url: str,
    aiohttp_client: Callable[..., object],
) -> None:
    body = am_payload(am_alert("AuthFailures", deployment="svc-1", starts_at=clock.now()))
    async with replicas(replica_settings, clock, 2, aiohttp_client) as reps:
        await post_all([c for _, c in reps], [body, body])  # an Alertmanager HA pair: one copy each
        await settled(pg_url, payloads=2)
    assert restarts(fake_kube) == ["/apis/apps/v1/namespaces/shop/deployments/svc-1"]
    outcomes = sorted(r[0] for r in await journal_rows(pg_url, "SELECT outcome FROM decisions"))
    assert outcomes == ["act", "duplicate"]
    owners = await journal_rows(pg_url, "SELECT owner, status FROM executions")
    assert [r[1] for r in owners] == ["succeeded"]


async def test_a_storm_round_robin_over_three_replicas_writes_each_target_once(
    replica_settings: Settings,
    clock: FakeClock,
    fake_kube: FakeKubeServer,
    pg_url: str,
    aiohttp_client: Callable[..., object],
) -> None:
    # Each alert sent 3 times, round-robin: every replica gets a copy of every third alert.
    bodies = [
        am_payload(am_alert("AuthFailures", deployment=f"svc-{i}", starts_at=clock.now()))
        for i in range(TARGETS)
        for _ in range(3)
    ]
    async with replicas(replica_settings, clock, 3, aiohttp_client) as reps:
        await post_all([c for _, c in reps], bodies)
        await settled(pg_url, payloads=3 * TARGETS, timeout_s=60)
    assert restarts(fake_kube) == sorted(
        f"/apis/apps/v1/namespaces/shop/deployments/svc-{i}" for i in range(TARGETS)
    ), "one write per target"
    [counts] = await journal_rows(
        pg_url,
        "SELECT (SELECT count(*) FROM payloads), (SELECT count(*) FROM alerts),"
        " (SELECT count(*) FROM decisions WHERE outcome = 'act'),"
        " (SELECT count(*) FROM decisions WHERE outcome = 'duplicate')",
    )
    rows = await journal_rows(pg_url, "SELECT alert_id, target, outcome, reason FROM decisions ORDER BY id")
    assert tuple(counts) == (3 * TARGETS, 3 * TARGETS, TARGETS, 2 * TARGETS), [
        tuple(r) for r in rows if r[2] != "act" and "already acted" not in r[3]
    ]


async def test_readiness_reflects_the_journal(
    replica_settings: Settings,
    clock: FakeClock,
    pg_url: str,
    pg_cluster: PgCluster,
    aiohttp_client: Callable[..., object],
) -> None:
    database = urlsplit(pg_url).path.lstrip("/")
    admin = pg_cluster.url("postgres")
    async with replicas(replica_settings, clock, 1, aiohttp_client) as [(_, client)]:
        assert (await client.get("/readyz")).status == 200
        await journal_rows(admin, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await journal_rows(
            admin, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        )
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503 and body["failing"] == ["journal"], body
        assert body["checks"]["journal"].startswith("journal write failed"), body
        await journal_rows(admin, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        async with asyncio.timeout(10):
            while (await client.get("/readyz")).status != 200:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
