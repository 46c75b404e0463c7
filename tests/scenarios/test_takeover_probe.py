"""A half-open breaker's probe interrupted while running frees the probe: the next alert may probe.

The breaker of a rule and target opened on a failure; after `reset_after` it is half-open and one
execution, the probe, may act. Replica A decides and starts the probe, then dies. Replica B takes the
execution over: it may have changed the cluster (it still holds its cooldown and is not applied
again), but it ended without a result, so it must not hold the probe slot for good. Once the
cooldown has passed, the next alert on that target probes, and its success closes the breaker.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import JournalSettings, SecretRef
from remediator.model import ExecutionId, ExecutionStatus
from remediator.store import ExecutionUpdate, PipelineJournal
from remediator.store.postgres import PostgresJournal
from remediator.store.sqlite import SqliteJournal
from remediator.testing.fake_kube import FakeKubeServer
from tests.pgserver import PASSWORD_ENV
from tests.scenarios.conftest import TOKEN, am_alert, am_payload, auth
from tests.scenarios.test_takeover_queued import RULE, acting, patched, pg, settings_for, until

RULES = f"""
rules:
  - name: {RULE}
    match: ['alertname = "AuthFailures"']
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions: [{{rollout_restart: {{}}}}]
    guards: {{cooldown: 5m, circuit_breaker: {{failures: 1, reset_after: 10m}}}}
"""
SVC = "svc-probed"


@pytest.fixture
def deployment(fake_kube: FakeKubeServer, monkeypatch: pytest.MonkeyPatch) -> FakeKubeServer:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    fake_kube.add_deployment("shop", SVC, image="svc:v1")
    return fake_kube


async def test_a_probe_interrupted_while_running_lets_the_next_alert_probe(
    tmp_path: Path,
    deployment: FakeKubeServer,
    clock: FakeClock,
    pg_url: str,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    journal = JournalSettings(url=pg_url, password=SecretRef(env=PASSWORD_ENV), lease=3.0)
    settings = settings_for(tmp_path, deployment, journal, rules=RULES)
    password = os.environ[PASSWORD_ENV]
    async with PostgresJournal.open(pg_url, password=password, clock=clock, lease_s=3600) as a:
        probe_id = await open_then_fail_then_probe(a, clock)  # on replica A, which then dies
        async with open_app(settings, clock=clock) as b, pg(pg_url) as conn:
            client = await aiohttp_client(build_web_app(b.api_state()))

            async def decisions() -> list[Any]:
                return list(await conn.fetch("SELECT outcome, reason FROM decisions ORDER BY id"))

            await conn.execute(
                "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1",
                a.replica,
            )

            async def taken_over() -> bool:
                return any(f"execution #{probe_id} was interrupted" in d[1] for d in await decisions())

            await until("B took over A's probe and decided it again", taken_over)
            [again] = [d for d in await decisions() if f"execution #{probe_id} was interrupted" in d[1]]
            assert again[0] in ("cooldown", "duplicate"), f"it may have landed: not applied again ({again})"
            assert "interrupted while running (it was the circuit breaker's half-open probe" in again[1]
            assert patched(deployment) == [], "the interrupted probe is not applied again"

            await next_alert_probes(b, client, clock, deployment, decisions)


async def open_then_fail_then_probe(journal: PipelineJournal, clock: FakeClock) -> ExecutionId:
    """An execution fails (the breaker opens); after reset_after the probe starts, and then its
    replica dies (or the daemon crashes) with it running. Returns the probe's execution."""
    failing = acting(clock, SVC)
    batch = await journal.record_batch(payload_ids=[], alerts=[failing.alert], decisions=[(0, failing)])
    assert await journal.start_execution(batch.execution_ids[0])
    failed = ExecutionUpdate(status=ExecutionStatus.FAILED, error="boom")
    await journal.finish_execution(batch.execution_ids[0], failed)
    clock.advance(11 * 60)
    probe = acting(clock, SVC)
    batch = await journal.record_batch(payload_ids=[], alerts=[probe.alert], decisions=[(0, probe)])
    assert await journal.start_execution(batch.execution_ids[0])
    return batch.execution_ids[0]


async def next_alert_probes(
    app: Application,
    client: TestClient,
    clock: FakeClock,
    kube: FakeKubeServer,
    decisions: Callable[[], Awaitable[list[Any]]],
) -> None:
    """A new alert on the same target, once the probe's cooldown has passed: it is the probe, and its
    success closes the breaker."""
    clock.advance(6 * 60)
    body = am_payload(am_alert("AuthFailures", deployment=SVC, starts_at=clock.now()))
    r = await client.post("/webhook/alertmanager", data=body, headers=auth())
    assert r.status == 202
    await app.processor.drained()
    await app.drained()
    last = (await decisions())[-1]
    assert last[0] == "act", f"the probe slot is free: the next alert probes ({last})"
    assert patched(kube) == [SVC]

    async def closed() -> bool:
        return [(v.target, v.state) for v in app.breaker.views()] == [(f"shop/Deployment/{SVC}", "closed")]

    await until("the new probe succeeded and closed the breaker", closed)


async def test_a_probe_interrupted_by_a_crash_lets_the_next_alert_probe_after_the_restart(
    tmp_path: Path,
    deployment: FakeKubeServer,
    clock: FakeClock,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    """One daemon on SQLite: the breaker is rebuilt from the journal at start-up, open then half-open,
    and the probe the crash interrupted holds no slot."""
    path = tmp_path / "journal.sqlite"
    settings = settings_for(tmp_path, deployment, JournalSettings(path=path), rules=RULES)
    async with SqliteJournal.open(path, clock=clock) as crashed:
        probe_id = await open_then_fail_then_probe(crashed, clock)
    async with open_app(settings, clock=clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))

        async def decisions() -> list[Any]:
            return [(d["outcome"], d["reason"]) for d in reversed(await app.journal.decisions())]

        again = [
            d for d in await decisions() if f"execution #{probe_id} was interrupted while running" in d[1]
        ]
        assert [d[0] for d in again] in (["cooldown"], ["duplicate"]), f"not applied again ({again})"
        assert "(it was the circuit breaker's half-open probe, which ended without a result" in again[0][1]
        assert [(v.state, v.failures) for v in app.breaker.views()] == [("half_open", 1)]
        await next_alert_probes(app, client, clock, deployment, decisions)
