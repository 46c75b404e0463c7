"""Timers and deferred decisions in the journal: atomic claims with leases, upserts, the bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from remediator.clock import FakeClock
from remediator.model import ActionSpec, Alert, Decision, Outcome, RuleName, Target
from remediator.store.scheduling import NewTimer
from tests.store.conftest import Backend

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(fp: str = "abc") -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=fp,
        status="firing",
        labels={"alertname": "HighErrorRate"},
        annotations={},
        starts_at=T0,
    )


def deferred(fp: str, *, severity: str = "", ns: str = "shop") -> Decision:
    return Decision(
        alert=alert(fp),
        rule=RuleName("r1"),
        target=Target(kind="Deployment", namespace=ns, name=fp),
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=Outcome.DEFERRED,
        reason="deferred: concurrency: 3 actions in flight in namespace 'shop' (max 3)",
        dry_run=False,
        decided_at=T0,
        severity=severity,
    )


async def test_a_due_timer_is_claimed_once_and_finishing_schedules_the_next(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        await j.schedule(
            [
                NewTimer(kind="escalation", key="incident:1", due_at=at(15), payload={"step": 1}),
                NewTimer(kind="update", key="incident:1", due_at=at(30)),
            ]
        )
        assert await j.next_timer_due() == at(15)
        assert await j.claim_timers(worker="a", lease_s=60, limit=10) == [], "nothing is due yet"
        clock.advance(15 * 60)
        [timer] = await j.claim_timers(worker="a", lease_s=60, limit=10)
        assert (timer.kind, timer.payload, timer.attempts) == ("escalation", {"step": 1}, 1)
        assert await j.claim_timers(worker="b", lease_s=60, limit=10) == [], "claimed: nobody else runs it"
        nxt = NewTimer(kind="escalation", key="incident:1", due_at=at(30), payload={"step": 2})
        assert await j.finish_timer(timer.id, worker="a", result="paged secondary", then=[nxt])
        assert not await j.finish_timer(timer.id, worker="a", result="again"), "finished once"
        pending = await j.timers()
        assert [(t.kind, t.due_at, t.payload) for t in pending] == [
            ("update", at(30), {}),
            ("escalation", at(30), {"step": 2}),
        ], "soonest first, then in the order scheduled"
        [done] = await j.timers(pending=False)
        assert (done.id, done.result) == (timer.id, "paged secondary")


async def test_a_lease_left_by_a_dead_worker_is_taken_over_after_it_ends(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        await j.schedule([NewTimer(kind="watch_end", key="incident:7", due_at=T0)])
        [first] = await j.claim_timers(worker="dead", lease_s=60, limit=10)
        clock.advance(59)
        assert await j.claim_timers(worker="alive", lease_s=60, limit=10) == []
        clock.advance(1)
        [again] = await j.claim_timers(worker="alive", lease_s=60, limit=10)
        assert (again.id, again.attempts, again.claimed_by) == (first.id, 2, "alive")
        assert not await j.finish_timer(first.id, worker="dead", result="late"), "the old claim is gone"
        assert await j.finish_timer(first.id, worker="alive", result="done")


async def test_scheduling_again_moves_the_pending_timer_and_drops_its_claim(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        await j.schedule([NewTimer(kind="sweep", key="deferrals", due_at=T0)])
        [claimed] = await j.claim_timers(worker="a", lease_s=60, limit=10)
        await j.schedule([NewTimer(kind="sweep", key="deferrals", due_at=at(1))])
        assert not await j.finish_timer(claimed.id, worker="a", result="ran"), "moved while running"
        [pending] = await j.timers()
        assert (pending.id, pending.due_at, pending.claimed_by) == (claimed.id, at(1), None)
        # A wake-up keeps the earlier of two due times; a move does not.
        await j.schedule([NewTimer(kind="sweep", key="deferrals", due_at=at(5), only_if_earlier=True)])
        assert [t.due_at for t in await j.timers()] == [at(1)]
        await j.schedule([NewTimer(kind="sweep", key="deferrals", due_at=T0, only_if_earlier=True)])
        assert [t.due_at for t in await j.timers()] == [T0]


async def test_cancelled_timers_are_not_claimed_and_say_why(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        await j.schedule([NewTimer(kind="escalation", key="incident:1", due_at=T0)])
        assert await j.cancel_timers([("escalation", "incident:1")], reason="acknowledged by ana") == 1
        assert await j.claim_timers(worker="a", lease_s=60, limit=10) == []
        [done] = await j.timers(pending=False)
        assert done.result == "cancelled: acknowledged by ana"
        assert await j.next_timer_due() is None


async def test_timers_survive_a_reopen(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        await j.schedule([NewTimer(kind="update", key="incident:1", due_at=at(30), payload={"n": 1})])
    async with backend.open(clock=clock) as j:
        [t] = await j.timers()
        assert (t.kind, t.key, t.due_at, t.payload) == ("update", "incident:1", at(30), {"n": 1})
        await j.schedule([NewTimer(kind="update", key="incident:2", due_at=at(31))])
        assert len(await j.timers()) == 2, "ids continue after the reopen"


async def test_deferred_decisions_wait_most_severe_first_then_oldest(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        for fp, sev in (("p3", "P3"), ("none", ""), ("p1-old", "critical")):
            await j.record_batch(
                payload_ids=[], alerts=[alert(fp)], decisions=[(0, deferred(fp, severity=sev))]
            )
            clock.advance(1)
        await j.record_batch(
            payload_ids=[], alerts=[alert("p1-new")], decisions=[(0, deferred("p1-new", severity="P1"))]
        )
        assert j.deferred_waiting() == 4
        assert [d.fingerprint for d in await j.deferrals()] == ["p1-old", "p1-new", "p3", "none"]
        claimed = await j.claim_deferrals(worker="a", lease_s=60, limit=2)
        assert [d.fingerprint for d in claimed] == ["p1-old", "p1-new"]
        assert [d.fingerprint for d in await j.claim_deferrals(worker="b", lease_s=60, limit=5)] == [
            "p3",
            "none",
        ]


async def test_more_deferrals_than_the_bound_shed_the_least_severe_newest(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock, max_deferred=2) as j:
        await j.record_batch(
            payload_ids=[],
            alerts=[alert("a"), alert("b"), alert("c")],
            decisions=[
                (0, deferred("a", severity="P3")),
                (1, deferred("b", severity="P1")),
                (2, deferred("c", severity="P3")),
            ],
        )
        assert j.deferred_waiting() == 2
        assert [d.fingerprint for d in await j.deferrals()] == ["b", "a"]
        [shed] = await j.deferrals(status="shed")
        assert shed.fingerprint == "c"
        assert shed.result is not None and "3 decisions were waiting (max 2)" in shed.result
    async with backend.open(clock=clock, max_deferred=2) as j:
        assert j.deferred_waiting() == 2, "the count is rebuilt from the journal"


async def test_settling_a_deferral_records_its_decision_and_execution(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        batch = await j.record_batch(payload_ids=[], alerts=[alert("a")], decisions=[(0, deferred("a"))])
        [d] = await j.claim_deferrals(worker="w", lease_s=60, limit=10)
        assert d.alert_id == batch.alert_ids[0] and d.decision_id == batch.decision_ids[0]
        clock.advance(120)
        acting = replace(deferred("a"), outcome=Outcome.ACT, reason="slot free", decided_at=clock.now())
        assert await j.settle_deferral(d.id, worker="other", decision=acting, alert_id=d.alert_id) is None
        settled = await j.settle_deferral(d.id, worker="w", decision=acting, alert_id=d.alert_id)
        assert settled is not None
        decision_id, execution_id = settled
        assert execution_id is not None
        [ended] = await j.deferrals(status="redecided")
        assert (ended.decision, ended.result) == (decision_id, "act: slot free")
        assert j.deferred_waiting() == 0
        assert await j.deferrals() == []


async def test_a_resolved_alert_cancels_its_deferrals_and_a_retry_keeps_the_reason(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        await j.record_batch(
            payload_ids=[],
            alerts=[alert("a"), alert("b")],
            decisions=[(0, deferred("a")), (1, deferred("b"))],
        )
        claimed = await j.claim_deferrals(worker="w", lease_s=60, limit=10)
        await j.keep_deferred(claimed[1].id, worker="w", reason="deferred: still busy")
        assert await j.cancel_deferrals("a", reason="alert resolved") == 1
        [waiting] = await j.deferrals()
        assert (waiting.fingerprint, waiting.attempts, waiting.reason) == ("b", 1, "deferred: still busy")
        [cancelled] = await j.deferrals(status="cancelled")
        assert cancelled.result == "alert resolved"
        assert j.deferred_waiting() == 1
        assert await j.end_deferral(waiting.id, status="expired", result="older than max_alert_age")
        assert j.deferred_waiting() == 0
