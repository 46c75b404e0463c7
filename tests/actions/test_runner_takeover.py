"""The executor applies nothing more once its execution was taken over (interrupted and decided again).

A replica starved long enough for its lease to lapse is presumed dead: another interrupts its running
executions and decides them again through the guards. The starved one must not then go on to apply
them: every attempt, retries included, first asks the journal whether the execution is still its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from remediator.actions.dispatch import ActionRouter
from remediator.actions.kube import KubeActions
from remediator.actions.retry import RetryPolicy
from remediator.actions.runner import MAY_HAVE_LANDED, ActionRunner
from remediator.clock import FakeClock
from remediator.metrics import Metrics
from remediator.model import (
    ActionSpec,
    Alert,
    Decision,
    ExecutionId,
    ExecutionStatus,
    Outcome,
    RuleName,
    Target,
)
from remediator.rules import Rule
from remediator.store import ExecutionUpdate, PipelineJournal
from remediator.store.sqlite import SqliteJournal
from remediator.testing.fake_kube import FakeKubeServer

CART = Target(kind="Deployment", namespace="shop", name="cart")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restart(clock: FakeClock) -> Decision:
    alert = Alert(
        source="alertmanager",
        fingerprint="fp",
        status="firing",
        labels={"alertname": "CrashLooping"},
        annotations={},
        starts_at=clock.now(),
    )
    return Decision(
        alert=alert,
        rule=RuleName("restart-cart"),
        target=CART,
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=Outcome.ACT,
        reason="matched",
        dry_run=False,
        decided_at=clock.now(),
    )


def runner_for(
    journal: PipelineJournal, kube_actions: KubeActions, clock: FakeClock, ended: list[ExecutionUpdate]
) -> ActionRunner:
    """A runner with three quick attempts that notes every execution's end in `ended`."""
    return ActionRunner(
        journal=journal,
        actions=ActionRouter(kube=kube_actions, now=clock.now),
        metrics=Metrics(),
        clock=clock,
        retry=RetryPolicy(attempts=3, backoff_min_s=0.0, backoff_max_s=0.0),
        on_finished=[lambda _, update: ended.append(update)],
    )


def cart_requests(fake: FakeKubeServer, method: str) -> list[int]:
    """The statuses the fake answered to `method` requests for the cart Deployment, in order."""
    return [r.status for r in fake.requests if r.method == method and r.path.endswith("/deployments/cart")]


async def recorded(journal: PipelineJournal, decision: Decision) -> ExecutionId:
    """The decision's execution, recorded as the processor records a batch of one."""
    batch = await journal.record_batch(payload_ids=[], alerts=[decision.alert], decisions=[(0, decision)])
    return batch.execution_ids[0]


async def arrived(fake: FakeKubeServer, method: str) -> None:
    """Return once the fake has received a `method` request for the cart Deployment (it records a
    request on arrival, before an injected hold)."""
    async with asyncio.timeout(10):
        while not cart_requests(fake, method):  # noqa: ASYNC110 - the fake records it on arrival
            await asyncio.sleep(0.01)


async def test_a_retry_after_the_execution_was_taken_over_applies_nothing(
    tmp_path: Path, fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart")
    ended: list[ExecutionUpdate] = []
    async with SqliteJournal.open(tmp_path / "journal.sqlite", clock=clock) as journal:
        runner = runner_for(journal, kube_actions, clock, ended)
        decision = restart(clock)
        execution = await recorded(journal, decision)
        stalled = asyncio.Event()
        # The first PATCH stalls, then fails without landing (503): a retry would normally follow.
        fake_kube.inject(status=503, method="PATCH", path=r"/deployments/cart$", hold=stalled)
        runner.submit(execution, decision)
        await arrived(fake_kube, "PATCH")
        # Meanwhile the execution is taken over: interrupted, to be decided again elsewhere.
        [taken] = await journal.interrupt_unfinished()
        assert (taken.execution_id, taken.started) == (execution, True)
        stalled.set()
        await runner.idle()
        await runner.aclose()
        [ex] = [e for e in await journal.executions() if e.id == execution]
    assert cart_requests(fake_kube, "PATCH") == [503], "no retry once the execution was taken over"
    assert [w for w in fake_kube.writes if w.method == "PATCH"] == []
    [update] = ended
    assert update.status is ExecutionStatus.INTERRUPTED
    assert update.error == "taken over by another replica before rollout_restart: not applied"
    assert ex.status is ExecutionStatus.INTERRUPTED, "the take-over's record stands"
    assert ex.error is not None and ex.error.startswith("interrupted:")


async def test_a_failure_after_a_write_was_sent_says_it_may_have_landed(
    tmp_path: Path, fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """The PATCH lands but its answer is lost, then every re-read fails: the execution failed, yet the
    Deployment was restarted. Its record must not read as 'nothing changed'."""
    fake_kube.add_deployment("shop", "cart")
    ended: list[ExecutionUpdate] = []
    async with SqliteJournal.open(tmp_path / "journal.sqlite", clock=clock) as journal:
        runner = runner_for(journal, kube_actions, clock, ended)
        decision = restart(clock)
        execution = await recorded(journal, decision)
        answered = asyncio.Event()
        fake_kube.inject(
            status=504, method="PATCH", path=r"/deployments/cart$", after_write=True, hold=answered
        )
        runner.submit(execution, decision)
        await arrived(fake_kube, "PATCH")
        fake_kube.inject(status=503, method="GET", path=r"/deployments/cart$", times=10)
        answered.set()  # the write lands, its answer is lost, and every re-read fails from now on
        await runner.idle()
        await runner.aclose()
    [update] = ended
    assert update.status is ExecutionStatus.FAILED
    assert update.error is not None and update.error.endswith(f"({MAY_HAVE_LANDED})")
    deployment = fake_kube.get("Deployment", "shop", "cart")
    assert deployment is not None
    assert RESTARTED_AT in deployment["spec"]["template"]["metadata"]["annotations"], "it was restarted"


async def test_a_refused_write_fails_without_saying_it_may_have_landed(
    tmp_path: Path, fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """A 403 is a definite answer: the cluster is unchanged, and the record says only why."""
    fake_kube.add_deployment("shop", "cart")
    ended: list[ExecutionUpdate] = []
    async with SqliteJournal.open(tmp_path / "journal.sqlite", clock=clock) as journal:
        runner = runner_for(journal, kube_actions, clock, ended)
        decision = restart(clock)
        execution = await recorded(journal, decision)
        fake_kube.inject(status=403, method="PATCH", path=r"/deployments/cart$")
        runner.submit(execution, decision)
        await runner.idle()
        await runner.aclose()
    [update] = ended
    assert update.status is ExecutionStatus.FAILED
    assert update.error is not None and "forbidden" in update.error
    assert MAY_HAVE_LANDED not in update.error
    deployment = fake_kube.get("Deployment", "shop", "cart")
    assert deployment is not None
    assert RESTARTED_AT not in (deployment["spec"]["template"].get("metadata") or {}).get("annotations", {})
    assert cart_requests(fake_kube, "PATCH") == [403]


class _Pages:
    """An escalator that notes whom it would page."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def escalate(
        self, decision: Decision, rule: Rule | None, *, reason: str, execution_id: int | None
    ) -> None:
        self.reasons.append(reason)


async def test_an_end_after_the_execution_was_taken_over_reaches_the_guards_as_the_journal_has_it(
    tmp_path: Path, fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """The take-over comes while the last write is under way (after its ownership check): the write is
    refused, so the execution failed here; but the journal keeps it interrupted (taken over, decided
    again elsewhere). This replica's guards must not count a failure toward its breaker (nor a
    try-later end drop a cooldown the journal still counts), nor page: they learn what the journal says.
    """
    fake_kube.add_deployment("shop", "cart")
    ended: list[ExecutionUpdate] = []
    pages = _Pages()
    metrics = Metrics()
    async with SqliteJournal.open(tmp_path / "journal.sqlite", clock=clock) as journal:
        runner = ActionRunner(
            journal=journal,
            actions=ActionRouter(kube=kube_actions, now=clock.now),
            metrics=metrics,
            clock=clock,
            retry=RetryPolicy(attempts=3, backoff_min_s=0.0, backoff_max_s=0.0),
            escalator=pages,
            on_finished=[lambda _, update: ended.append(update)],
        )
        decision = restart(clock)
        execution = await recorded(journal, decision)
        stalled = asyncio.Event()
        fake_kube.inject(status=403, method="PATCH", path=r"/deployments/cart$", hold=stalled)
        runner.submit(execution, decision)
        await arrived(fake_kube, "PATCH")
        [taken] = await journal.interrupt_unfinished()
        assert taken.execution_id == execution
        stalled.set()
        await runner.idle()
        await runner.aclose()
        [ex] = [e for e in await journal.executions() if e.id == execution]
    assert ex.status is ExecutionStatus.INTERRUPTED, "the take-over's record stands"
    [update] = ended
    assert update.status is ExecutionStatus.INTERRUPTED, "no failure for the breaker: none is journaled"
    assert update.error == "taken over by another replica while running: it ended failed here"
    assert pages.reasons == [], "the replica that took it over decides whether to page"
    unjournaled = metrics.registry.get_sample_value(
        "remediator_execution_ends_unjournaled_total", {"action": "rollout_restart", "status": "failed"}
    )
    assert unjournaled == 1.0


async def test_an_end_that_is_journaled_reaches_the_guards_as_it_ended(
    tmp_path: Path, fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart")
    ended: list[ExecutionUpdate] = []
    pages = _Pages()
    async with SqliteJournal.open(tmp_path / "journal.sqlite", clock=clock) as journal:
        runner = ActionRunner(
            journal=journal,
            actions=ActionRouter(kube=kube_actions, now=clock.now),
            metrics=Metrics(),
            clock=clock,
            retry=RetryPolicy(attempts=1, backoff_min_s=0.0, backoff_max_s=0.0),
            escalator=pages,
            on_finished=[lambda _, update: ended.append(update)],
        )
        decision = restart(clock)
        execution = await recorded(journal, decision)
        fake_kube.inject(status=403, method="PATCH", path=r"/deployments/cart$")
        runner.submit(execution, decision)
        await runner.idle()
        await runner.aclose()
        [ex] = await journal.executions()
    assert ex.status is ExecutionStatus.FAILED
    assert [u.status for u in ended] == [ExecutionStatus.FAILED]
    assert len(pages.reasons) == 1
