"""What only the shared journal promises: several replicas on one database.

Deciding takes turns across replicas and each turn starts with what the others wrote (the guard
feed); payloads are claimed once; executions belong to a replica with a lease, and those of a
replica whose lease expired are taken over (and never started by the presumed-dead one).
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from remediator.clock import FakeClock
from remediator.model import ExecutionStatus, Outcome
from remediator.store import ExecutionUpdate, JournalUnavailable
from remediator.store.migrations import JournalSchemaTooNew
from remediator.store.postgres import PostgresJournal, redact
from remediator.store.postgres_schema import LATEST
from tests.pgserver import PASSWORD_ENV
from tests.store.conftest import T0, TARGET, alert, decision


def open_replica(url: str, **kwargs: object) -> PostgresJournal:
    kwargs.setdefault("lease_s", 2.0)
    return PostgresJournal.open(url, password=os.environ[PASSWORD_ENV], **kwargs)  # type: ignore[return-value,arg-type]


async def sql(url: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(url, password=os.environ[PASSWORD_ENV])
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def test_deciding_takes_turns_and_each_turn_sees_the_others_acts(pg_url: str) -> None:
    clock = FakeClock(T0)
    async with open_replica(pg_url, clock=clock) as a, open_replica(pg_url, clock=clock) as b:
        async with b.deciding() as scope:
            assert scope.feed.full and scope.feed.acts == () and scope.feed.running == ()
        entered_b = asyncio.Event()

        async def b_decides() -> None:
            async with b.deciding() as scope_b:
                entered_b.set()
                [act] = scope_b.feed.acts
                assert (act.rule, act.target, act.dry_run, act.fingerprint) == ("r1", TARGET.key, False, "f1")
                assert act.starts_at == T0 and act.decided_at == T0
                assert [(r.rule, r.target) for r in scope_b.feed.running or ()] == [("r1", TARGET.key)]

        async with a.deciding() as scope_a:
            task = asyncio.create_task(b_decides())
            await asyncio.sleep(0.3)
            assert not entered_b.is_set(), "another replica decides while this one holds the turn"
            f1 = alert("f1")
            rec = await scope_a.record_batch(payload_ids=[], alerts=[f1], decisions=[(0, decision(f1))])
        async with asyncio.timeout(5):
            await task
        # the replica's own act is not fed back to it (its guards recorded it when deciding)
        async with a.deciding() as scope:
            assert scope.feed.acts == ()
        await a.start_execution(rec.execution_ids[0])
        await a.finish_execution(
            rec.execution_ids[0], ExecutionUpdate(status=ExecutionStatus.FAILED, error="x")
        )
        async with b.deciding() as scope:
            assert scope.feed.acts == () and scope.feed.running == ()
            [outcome] = scope.feed.outcomes
            assert (outcome.rule, outcome.target, outcome.ok) == ("r1", TARGET.key, False)
        async with b.deciding() as scope:
            assert scope.feed.outcomes == (), "each result is fed once"


async def test_a_failed_turn_rebuilds_the_guards_from_the_journal(pg_url: str) -> None:
    clock = FakeClock(T0)
    async with open_replica(pg_url, clock=clock) as a, open_replica(pg_url, clock=clock) as b:
        f1 = alert("f1")
        await a.record_batch(payload_ids=[], alerts=[f1], decisions=[(0, decision(f1))])
        async with b.deciding() as scope:
            assert len(scope.feed.acts) == 1 and scope.feed.full

        async def fail_inside() -> None:
            async with b.deciding() as scope:
                assert not scope.feed.full
                raise RuntimeError("the decision failed")

        with pytest.raises(RuntimeError):
            await fail_inside()
        async with b.deciding() as scope:
            assert scope.feed.full and len(scope.feed.acts) == 1, "everything again, own acts included"


async def test_payloads_are_claimed_once_across_replicas(pg_url: str) -> None:
    async with open_replica(pg_url) as a, open_replica(pg_url) as b:
        accepted = await asyncio.gather(
            *(r.accept("alertmanager", b'{"n": %d}' % i) for i in range(40) for r in (a, b))
        )
        assert len(set(accepted)) == 80
        seen: list[int] = []

        async def drain(j: PostgresJournal) -> None:
            while True:
                async with j.deciding() as scope:
                    batch = await scope.pending_payloads(7)
                    if not batch:
                        return
                    await asyncio.sleep(0)
                    await scope.record_batch(payload_ids=[p.id for p in batch], alerts=[], decisions=[])
                    seen.extend(p.id for p in batch)

        await asyncio.gather(drain(a), drain(b))
        assert sorted(seen) == sorted(accepted), "every payload processed exactly once"
        assert await sql(pg_url, "SELECT count(*) FROM payloads WHERE processed_at IS NULL") == 0


async def test_executions_of_a_dead_replica_are_taken_over_and_never_started_by_it(pg_url: str) -> None:
    # A's own heartbeat would first tick in 20 minutes: the test beats for it (`renew_lease`), so no
    # renewal races the expiry the test stands for (that race is the next test's subject).
    async with open_replica(pg_url, lease_s=3600) as a, open_replica(pg_url, lease_s=2.0) as b:
        f1 = alert("f1")
        rec = await a.record_batch(
            payload_ids=[], alerts=[f1], decisions=[(0, decision(f1)), (0, decision(f1, rule="r2"))]
        )
        running, queued = rec.execution_ids[0], rec.execution_ids[1]
        assert await a.start_execution(running)
        assert await b.interrupt_unfinished() == [], "a live replica's executions are its own"
        lease = "SELECT lease_until FROM replicas WHERE id = $1"
        first = await sql(pg_url, lease, a.replica)
        assert await a.renew_lease(), "A's heartbeat renews its lease"
        assert await sql(pg_url, lease, a.replica) > first  # type: ignore[operator]
        # A stops renewing (a lost node, a long pause): its lease runs out.
        await sql(
            pg_url,
            "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1",
            a.replica,
        )
        taken = await b.interrupt_unfinished()
        assert {(t.execution_id, t.started) for t in taken} == {(running, True), (queued, False)}
        assert await a.start_execution(queued) is False, "the presumed-dead replica must not start it"
        assert await a.still_running(running) is False, "nor write anything more of the running one"
        [ex] = [e for e in await b.executions() if e.id == running]
        assert ex.status is ExecutionStatus.INTERRUPTED and a.replica in (ex.error or "")
        assert await sql(pg_url, "SELECT count(*) FROM replicas WHERE id = $1", a.replica) == 0
        # A's next heartbeat finds its lease gone and registers again.
        assert await a.renew_lease() is False
        assert await sql(pg_url, "SELECT count(*) FROM replicas WHERE id = $1", a.replica) == 1


async def test_a_lapsed_lease_renewed_before_any_take_over_keeps_its_executions(pg_url: str) -> None:
    """A starved heartbeat (the lease ran out, nobody took over yet) renews it: the replica is alive.
    Its own take-over turn never takes its own executions, and its running one stays its own."""
    async with open_replica(pg_url, lease_s=3600) as a, open_replica(pg_url, lease_s=3600) as b:
        f1 = alert("f1")
        rec = await a.record_batch(payload_ids=[], alerts=[f1], decisions=[(0, decision(f1))])
        running = rec.execution_ids[0]
        assert await a.start_execution(running)
        expire = "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1"
        await sql(pg_url, expire, a.replica)
        assert await a.interrupt_unfinished() == [], "a live replica never takes over its own executions"
        assert await a.still_running(running), "before a write: still its own, and the lease renewed"
        assert await b.interrupt_unfinished() == [], "renewed before the take-over: nothing to take"
        await sql(pg_url, expire, a.replica)
        assert await a.renew_lease(), "an expired lease nobody took is renewed by the heartbeat"
        assert await b.interrupt_unfinished() == []
        await a.finish_execution(running, ExecutionUpdate(status=ExecutionStatus.SUCCEEDED, summary="ok"))
        [ex] = [e for e in await a.executions() if e.id == running]
        assert ex.status is ExecutionStatus.SUCCEEDED


async def test_an_execution_taken_over_is_not_finished_by_its_old_runner(pg_url: str) -> None:
    """The take-over's record (interrupted, decided again) stands; the old runner's end is not
    journaled over it."""
    async with open_replica(pg_url, lease_s=3600) as a, open_replica(pg_url, lease_s=3600) as b:
        f1 = alert("f1")
        rec = await a.record_batch(payload_ids=[], alerts=[f1], decisions=[(0, decision(f1))])
        running = rec.execution_ids[0]
        assert await a.start_execution(running)
        await sql(
            pg_url,
            "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1",
            a.replica,
        )
        [taken] = await b.interrupt_unfinished()
        assert taken.execution_id == running
        await a.finish_execution(running, ExecutionUpdate(status=ExecutionStatus.SUCCEEDED, summary="ok"))
        [ex] = [e for e in await b.executions() if e.id == running]
        assert ex.status is ExecutionStatus.INTERRUPTED and a.replica in (ex.error or "")


async def test_a_clean_stop_hands_unfinished_work_over_at_once(pg_url: str) -> None:
    async with open_replica(pg_url, lease_s=30) as b:
        async with open_replica(pg_url, lease_s=30) as a:
            f1 = alert("f1")
            rec = await a.record_batch(payload_ids=[], alerts=[f1], decisions=[(0, decision(f1))])
        [taken] = await b.interrupt_unfinished()
        assert (taken.execution_id, taken.started) == (rec.execution_ids[0], False)


async def test_replicas_opening_together_migrate_once(pg_url: str) -> None:
    async with open_replica(pg_url), open_replica(pg_url), open_replica(pg_url):
        pass
    assert await sql(pg_url, "SELECT count(*) FROM schema_version") == LATEST


async def test_a_newer_schema_is_refused_in_one_line(pg_url: str) -> None:
    async with open_replica(pg_url):
        pass
    await sql(pg_url, "INSERT INTO schema_version VALUES ($1, 0, 'from the future') RETURNING 1", LATEST + 1)
    with pytest.raises(JournalSchemaTooNew) as e:
        async with open_replica(pg_url):
            pass
    assert "\n" not in str(e.value)
    assert f"schema version {LATEST + 1}, newer than this remediator knows ({LATEST})" in str(e.value)


async def test_a_wrong_password_is_unavailable_and_never_echoed(pg_url: str) -> None:
    with pytest.raises(JournalUnavailable) as e:
        async with PostgresJournal.open(pg_url, password="hunter2-wrong"):
            pass
    assert "hunter2" not in str(e.value) and "password authentication failed" in str(e.value)
    assert (
        redact("postgresql://u:s3cret@db:5432/x?sslmode=require")
        == "postgresql://u@db:5432/x?sslmode=require"
    )


async def test_acting_decision_outcomes_are_journaled_like_sqlite(pg_url: str) -> None:
    async with open_replica(pg_url) as j:
        f1 = alert("f1")
        await j.record_decisions(
            [(None, decision(f1, Outcome.DUPLICATE)), (None, decision(f1, dry_run=True))]
        )
        assert await j.decision_counts() == {"duplicate": 1, "act": 1}
        [row, _] = await j.decisions()
        assert row["dry_run"] == 1 and row["alert_id"] is None


async def test_ends_without_a_result_reach_every_replica_that_did_not_see_them_once(pg_url: str) -> None:
    """A refusal while acting (try later) and a take-over are fed to the other replicas, with whether
    the act still counts; never back to the replica that told its own guards (it ran or took it)."""
    clock = FakeClock(T0)
    async with (
        open_replica(pg_url, clock=clock, lease_s=3600) as a,
        open_replica(pg_url, clock=clock, lease_s=3600) as b,
        open_replica(pg_url, clock=clock, lease_s=3600) as c,
    ):
        for replica in (a, b, c):
            async with replica.deciding() as scope:
                assert scope.feed.full and scope.feed.ends == ()
        f1 = alert("f1")
        rec = await a.record_batch(
            payload_ids=[],
            alerts=[f1],
            decisions=[(0, decision(f1)), (0, decision(f1, rule="r2")), (0, decision(f1, rule="r3"))],
        )
        refused, queued, running = (rec.execution_ids[i] for i in range(3))
        assert await a.start_execution(refused) and await a.start_execution(running)
        error = "try later: create pods/eviction 'p' in 'shop': refused by a PodDisruptionBudget"
        await a.finish_execution(refused, ExecutionUpdate(status=ExecutionStatus.SKIPPED, error=error))
        async with b.deciding() as scope:
            assert [x.rule for x in scope.feed.acts] == ["r1", "r2", "r3"]
            assert [(e.act.rule, e.counts) for e in scope.feed.ends] == [("r1", False)], "after its act"
        await sql(
            pg_url,
            "UPDATE replicas SET lease_until = clock_timestamp() - interval '1s' WHERE id = $1",
            a.replica,
        )
        async with b.deciding() as scope:
            assert scope.feed.ends == (), "each end is fed once"
            taken = await scope.interrupt_unfinished()
            assert {t.execution_id for t in taken} == {queued, running}
        async with b.deciding() as scope:
            assert scope.feed.ends == (), "B took them over: its guards were told in that turn"
        async with c.deciding() as scope:
            ends = [(e.act.rule, e.act.fingerprint, e.counts) for e in scope.feed.ends]
            assert ends == [("r1", "f1", False), ("r2", "f1", False), ("r3", "f1", True)], (
                "the refused and the queued ones changed nothing; the running one may have"
            )
        async with a.deciding() as scope:
            ends = [(e.act.rule, e.counts) for e in scope.feed.ends]
            assert ends == [("r2", False), ("r3", True)], "its own, taken over by B; its refusal it ran"
        for replica in (a, c):
            async with replica.deciding() as scope:
                assert scope.feed.ends == ()
