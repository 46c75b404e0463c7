"""A taken-over execution is decided again by guards that agree with the journal.

A replica that dies (or a daemon that crashes) leaves executions queued or running. Whoever takes
over marks them interrupted and decides them again. A queued one never started, so nothing changed
the cluster: its own decision must not hold a cooldown (or a rate limit, a dedup entry, an in-flight
slot) against the re-decision, or the incident is dropped silently. A running one may have changed
the cluster: it still counts, and is not applied again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from remediator.app import open_app
from remediator.clock import FakeClock
from remediator.config import AuthSettings, JournalSettings, KubeSettings, SecretRef, Settings
from remediator.model import ActionSpec, Alert, Decision, Outcome, RuleName, Target
from remediator.store import PipelineJournal
from remediator.store.postgres import PostgresJournal
from remediator.store.sqlite import SqliteJournal
from remediator.testing.fake_kube import FakeKubeServer
from tests.pgserver import PASSWORD_ENV
from tests.scenarios.conftest import TOKEN

RULE = "restart-on-auth-failures"
RULES = f"""
rules:
  - name: {RULE}
    match: ['alertname = "AuthFailures"']
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions: [{{rollout_restart: {{}}}}]
    guards: {{cooldown: 15m}}
"""
QUEUED, RUNNING = "svc-queued", "svc-running"


def settings_for(
    tmp_path: Path, fake_kube: FakeKubeServer, journal: JournalSettings, *, rules: str = RULES
) -> Settings:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "r.yaml").write_text(rules)
    return Settings.model_validate(
        {
            "auth": AuthSettings(webhook_token=SecretRef(env="TEST_WEBHOOK_TOKEN"), api_tokens=()),
            "journal": journal,
            "kubernetes": KubeSettings(
                mode="kubeconfig", kubeconfig=fake_kube.write_kubeconfig(tmp_path / "kc"), call_timeout=1.0
            ),
            "rules": (rules_dir,),
        }
    )


def acting(clock: FakeClock, deployment: str) -> Decision:
    """What the replica that died had decided for an alert: restart the deployment."""
    alert = Alert(
        source="alertmanager",
        fingerprint=f"fp-{deployment}",
        status="firing",
        labels={"alertname": "AuthFailures", "namespace": "shop", "deployment": deployment},
        annotations={},
        starts_at=clock.now(),
    )
    return Decision(
        alert=alert,
        rule=RuleName(RULE),
        target=Target(kind="Deployment", namespace="shop", name=deployment),
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=Outcome.ACT,
        reason="matched",
        dry_run=False,
        decided_at=clock.now(),
    )


async def left_unfinished(journal: PipelineJournal, clock: FakeClock) -> None:
    """One execution left queued (never started), one left running (its write may have landed)."""
    queued, running = acting(clock, QUEUED), acting(clock, RUNNING)
    batch = await journal.record_batch(
        payload_ids=[], alerts=[queued.alert, running.alert], decisions=[(0, queued), (1, running)]
    )
    assert await journal.start_execution(batch.execution_ids[1])


def patched(fake_kube: FakeKubeServer) -> list[str]:
    return sorted(r.path.rsplit("/", 1)[-1] for r in fake_kube.writes if r.method == "PATCH")


async def redecided(decisions: Any) -> dict[str, tuple[str, str]]:
    """Deployment -> (outcome, reason) of the decision made again after the interruption."""
    out: dict[str, tuple[str, str]] = {}
    for d in await decisions():
        if "interrupted while" in d[2]:
            out[d[0].rsplit("/", 1)[-1]] = (d[1], d[2])
    return out


async def until(what: str, check: Any, timeout_s: float = 30.0) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not await check():  # noqa: ASYNC110 - polls the journal another replica writes
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


def assert_acted_once_on_the_queued_one(fake_kube: FakeKubeServer, again: dict[str, tuple[str, str]]) -> None:
    assert again[QUEUED][0] == "act", f"the queued execution changed nothing: act on it now ({again})"
    assert "interrupted while queued" in again[QUEUED][1]
    # Counted as the act it may have been: a cooldown, or on the shared journal (whose guard feed
    # carries each act's alert episode) already a duplicate of this alert's act.
    assert again[RUNNING][0] in ("cooldown", "duplicate"), f"the running one may have landed ({again})"
    assert "interrupted while running" in again[RUNNING][1]
    assert patched(fake_kube) == [QUEUED], "the queued one acted on exactly once, the running one not again"


@pytest.fixture
def deployments(fake_kube: FakeKubeServer, monkeypatch: pytest.MonkeyPatch) -> FakeKubeServer:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    for name in (QUEUED, RUNNING):
        fake_kube.add_deployment("shop", name, image="svc:v1")
    return fake_kube


@contextlib.asynccontextmanager
async def pg(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url, password=os.environ[PASSWORD_ENV])
    try:
        yield conn
    finally:
        await conn.close()


async def test_a_dead_replicas_queued_execution_is_acted_on_by_the_replica_taking_over(
    tmp_path: Path, deployments: FakeKubeServer, clock: FakeClock, pg_url: str
) -> None:
    journal = JournalSettings(url=pg_url, password=SecretRef(env=PASSWORD_ENV), lease=3.0)
    settings = settings_for(tmp_path, deployments, journal)
    password = os.environ[PASSWORD_ENV]
    # Replica A decides, then dies before its runner starts one execution and while it runs the other.
    async with PostgresJournal.open(pg_url, password=password, clock=clock, lease_s=3600) as a:
        await left_unfinished(a, clock)
        # Replica B starts while A is alive: its guards learn A's two acts and what A has in flight.
        async with open_app(settings, clock=clock), pg(pg_url) as conn:

            async def decisions() -> list[Any]:
                return list(await conn.fetch("SELECT target, outcome, reason FROM decisions"))

            assert await redecided(decisions) == {}, "A is alive: its executions are its own"
            await conn.execute(
                "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1",
                a.replica,
            )

            async def settled() -> bool:
                busy = await conn.fetchval(
                    "SELECT count(*) FROM executions WHERE status IN ('pending', 'running')"
                )
                return len(await redecided(decisions)) == 2 and busy == 0

            await until("B took over A's executions and finished what it decided", settled)
            again = await redecided(decisions)
    assert_acted_once_on_the_queued_one(deployments, again)


async def test_a_queued_execution_left_by_a_crash_is_acted_on_after_the_restart(
    tmp_path: Path, deployments: FakeKubeServer, clock: FakeClock
) -> None:
    path = tmp_path / "journal.sqlite"
    settings = settings_for(tmp_path, deployments, JournalSettings(path=path))
    async with SqliteJournal.open(path, clock=clock) as crashed:
        await left_unfinished(crashed, clock)  # then the daemon is killed: nothing more is written
    async with open_app(settings, clock=clock) as app:

        async def decisions() -> list[Any]:
            return [(d["target"] or "", d["outcome"], d["reason"]) for d in await app.journal.decisions()]

        async def settled() -> bool:
            done = all(e.status.value not in ("pending", "running") for e in await app.journal.executions())
            return len(await redecided(decisions)) == 2 and done

        await until("the restart decided both again and finished what it decided", settled)
        again = await redecided(decisions)
    assert_acted_once_on_the_queued_one(deployments, again)
