"""An act that changed nothing on one replica holds nothing on the others.

Replica B's guards learn every act of another replica from the journal's guard feed (a cooldown, a
dedup entry, a rate-limit count). When that act turns out to have changed nothing, because a
disruption budget refused it while acting (try later) or because the replica died with it queued
and a third replica took it over, B must learn that too: otherwise the next alert on that target is
skipped as a cooldown at B although nothing was done, and the remediation is missed.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.app import open_app
from remediator.clock import FakeClock
from remediator.config import JournalSettings, SecretRef
from remediator.model import ExecutionStatus
from remediator.store import ExecutionUpdate
from remediator.store.postgres import PostgresJournal
from remediator.testing.fake_kube import FakeKubeServer
from tests.pgserver import PASSWORD_ENV
from tests.scenarios.conftest import TOKEN, am_alert, am_payload, auth
from tests.scenarios.test_takeover_queued import RULE, acting, patched, pg, settings_for

RULES = f"""
rules:
  - name: {RULE}
    match: ['alertname = "AuthFailures"']
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions: [{{rollout_restart: {{}}}}]
    guards: {{cooldown: 15m, max_actions: {{count: 1, per: 1h}}}}
"""
SVC = "svc-ends"
REFUSED = (
    "try later: create pods/eviction 'p' in 'shop': refused by a PodDisruptionBudget (no disruption allowed)"
)


@pytest.fixture
def deployment(fake_kube: FakeKubeServer, monkeypatch: pytest.MonkeyPatch) -> FakeKubeServer:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    fake_kube.add_deployment("shop", SVC, image="svc:v1")
    return fake_kube


@pytest.mark.parametrize("ended", ["refused-while-acting", "taken-over-while-queued"])
async def test_an_act_that_changed_nothing_elsewhere_does_not_block_the_next_alert_here(
    ended: str,
    tmp_path: Path,
    deployment: FakeKubeServer,
    clock: FakeClock,
    pg_url: str,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    # B's take-over timer stays quiet (a long lease): C is the one that takes A's work over.
    journal = JournalSettings(url=pg_url, password=SecretRef(env=PASSWORD_ENV), lease=600.0)
    settings = settings_for(tmp_path, deployment, journal, rules=RULES)
    password = os.environ[PASSWORD_ENV]
    async with (
        PostgresJournal.open(pg_url, password=password, clock=clock, lease_s=3600) as a,
        PostgresJournal.open(pg_url, password=password, clock=clock, lease_s=3600) as c,
    ):
        first = acting(clock, SVC)
        batch = await a.record_batch(payload_ids=[], alerts=[first.alert], decisions=[(0, first)])
        execution = batch.execution_ids[0]
        # B starts while A's act is queued: its guards count it (cooldown, dedup, one act an hour).
        async with open_app(settings, clock=clock) as b, pg(pg_url) as conn:
            client = await aiohttp_client(build_web_app(b.api_state()))
            if ended == "refused-while-acting":
                assert await a.start_execution(execution)
                update = ExecutionUpdate(status=ExecutionStatus.SKIPPED, attempts=1, error=REFUSED)
                await a.finish_execution(execution, update)
            else:
                await conn.execute(
                    "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1",
                    a.replica,
                )
                [taken] = await c.interrupt_unfinished()
                assert (taken.execution_id, taken.started) == (execution, False)
            clock.advance(60)
            body = am_payload(am_alert("AuthFailures", deployment=SVC, starts_at=clock.now()))
            r = await client.post("/webhook/alertmanager", data=body, headers=auth())
            assert r.status == 202
            await b.processor.drained()
            await b.drained()
            outcome, reason = (await conn.fetch("SELECT outcome, reason FROM decisions ORDER BY id"))[-1]
            assert outcome == "act", f"nothing was done on {SVC}: B acts ({outcome}: {reason})"
            assert patched(deployment) == [SVC]
            [status] = await conn.fetch("SELECT status FROM executions WHERE owner = $1", b.journal.replica)
            assert status[0] == "succeeded"
