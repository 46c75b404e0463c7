"""A Kubernetes write is sent only while this replica's lease covers its whole timeout.

The runner renews the lease before each attempt, but an attempt reads before it writes, and a read can
be held by a slow API server for up to its timeout (after waiting for a slot). Replica A's lease can
expire in the meantime, and replica B take the execution over and decide it again: A's write, sent
once its read is answered, would land after the take-over. So each write first checks the lease still
covers it, and renews it (finding the take-over) when it does not.
"""

from __future__ import annotations

import asyncio
import math
import os

import asyncpg
import pytest

from remediator.actions.kube import KubeActions
from remediator.actions.lease_fence import LeaseFence, TakenOver
from remediator.clock import FakeClock
from remediator.errors import TryLaterError
from remediator.model import ExecutionId, ExecutionStatus
from remediator.store import ExecutionUpdate
from remediator.store.postgres import PostgresJournal
from remediator.testing.fake_kube import FakeKubeServer
from tests.actions.test_runner_takeover import arrived, cart_requests, recorded, restart, runner_for
from tests.pgserver import PASSWORD_ENV

LEASE_S = 30.0


async def test_a_write_is_not_sent_once_the_lease_may_have_lapsed_during_the_read_before_it(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock, pg_url: str
) -> None:
    fake_kube.add_deployment("shop", "cart")
    password = os.environ[PASSWORD_ENV]
    ended: list[ExecutionUpdate] = []
    async with (
        PostgresJournal.open(pg_url, password=password, clock=clock, lease_s=LEASE_S) as a,
        PostgresJournal.open(pg_url, password=password, clock=clock, lease_s=LEASE_S) as b,
    ):
        runner = runner_for(a, kube_actions, clock, ended)
        decision = restart(clock)
        execution = await recorded(a, decision)
        answered = asyncio.Event()
        # A's read of the Deployment (before its PATCH) is held inside the API server.
        fake_kube.inject(status=0, method="GET", path=r"/deployments/cart$", hold=answered)
        runner.submit(execution, decision)
        await arrived(fake_kube, "GET")
        # Meanwhile A's lease runs out (on its clock and in the database) and B takes the execution over.
        clock.advance(LEASE_S + 1)
        conn = await asyncpg.connect(pg_url, password=password)
        try:
            await conn.execute(
                "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1", a.replica
            )
        finally:
            await conn.close()
        [taken] = await b.interrupt_unfinished()
        assert (taken.execution_id, taken.started) == (execution, True)
        answered.set()  # the read is answered: A would now send its PATCH
        await runner.idle()
        await runner.aclose()
        [ex] = [e for e in await a.executions() if e.id == execution]
    assert cart_requests(fake_kube, "PATCH") == [], "no write sent after the take-over"
    assert [w for w in fake_kube.writes if w.method == "PATCH"] == []
    [update] = ended
    assert update.status is ExecutionStatus.INTERRUPTED
    assert update.error == "taken over by another replica before rollout_restart: not applied"
    assert ex.status is ExecutionStatus.INTERRUPTED, "the take-over's record stands"


class _Journal:
    """Just what the fence asks of a journal: the renewal and how long it covers."""

    def __init__(self, lease_s: float | None, *, ours: bool = True) -> None:
        self.write_lease_s = lease_s
        self.ours = ours
        self.renewals = 0

    async def still_running(self, execution_id: ExecutionId) -> bool:
        self.renewals += 1
        return self.ours


def fence_for(journal: _Journal, clock: FakeClock) -> LeaseFence:
    return LeaseFence(journal=journal, clock=clock, execution_id=ExecutionId(1), action="rollout_restart")  # type: ignore[arg-type]


async def test_the_fence_renews_only_when_the_rest_of_the_lease_would_not_cover_the_write(
    clock: FakeClock,
) -> None:
    journal = _Journal(15.0)
    fence = fence_for(journal, clock)
    await fence.renew()
    clock.advance(4.9)
    await fence(10.0)
    assert journal.renewals == 1, "10s of 15s still left after 4.9s: no renewal"
    clock.advance(0.2)
    await fence(10.0)
    assert journal.renewals == 2, "less than 10s left: renewed before the write"
    assert fence.covered_until == clock.monotonic() + 15.0


async def test_the_fence_refuses_a_write_after_a_take_over_and_one_no_lease_can_cover(
    clock: FakeClock,
) -> None:
    taken = fence_for(_Journal(15.0, ours=False), clock)
    with pytest.raises(
        TakenOver, match=r"^taken over by another replica before rollout_restart: not applied$"
    ):
        await taken(10.0)
    short = fence_for(_Journal(5.0), clock)
    with pytest.raises(TryLaterError, match="would not cover a 10s Kubernetes write"):
        await short(10.0)
    alone = _Journal(None)
    fence = fence_for(alone, clock)
    await fence(10.0)
    clock.advance(1e6)
    await fence(10.0)
    assert (alone.renewals, fence.covered_until) == (1, math.inf), "one daemon alone: nobody takes over"
