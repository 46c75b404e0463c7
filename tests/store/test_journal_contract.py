"""The journal contract, on every back-end: what the daemon relies on, whichever database holds it.

Durable intake with group commit, atomic batches, the execution lifecycle, what a crash leaves for
the next start, overload, and the oversight records (approvals, escalations, audit).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from remediator.clock import FakeClock
from remediator.model import Change, ExecutionId, ExecutionStatus, Outcome, Target
from remediator.store import ExecutionUpdate, JournalOverloaded, queries
from remediator.store.console_sessions import ConsoleSession
from remediator.store.revisions import OwnRevision
from tests.store.conftest import T0, TARGET, Backend, alert, decision


async def test_concurrent_accepts_share_commits(backend: Backend) -> None:
    async with backend.open() as j:
        ids = await asyncio.gather(*(j.accept("alertmanager", b'{"n": %d}' % i) for i in range(200)))
        assert len(set(ids)) == 200
        assert j.backlog() == 200
        assert j.commits < 50, f"200 concurrent accepts took {j.commits} commits: no group commit"
        pending = await j.pending_payloads(500)
        assert [p.id for p in pending] == sorted(ids)
        by_id = {p.id: p.body for p in pending}
        assert [by_id[i] for i in ids] == [b'{"n": %d}' % i for i in range(200)], "each caller got its id"


async def test_accepted_payloads_survive_reopen(backend: Backend) -> None:
    async with backend.open() as j:
        first = await j.accept("alertmanager", b"{}")
        await j.accept("alertmanager", b"[]")
    async with backend.open() as j:
        assert j.backlog() == 2
        assert [p.body for p in await j.pending_payloads(10)] == [b"{}", b"[]"]
        assert await j.accept("alertmanager", b"{}") > first + 1, "ids continue after a restart"


async def test_record_batch_is_atomic_and_marks_processed(backend: Backend) -> None:
    async with backend.open() as j:
        pid = await j.accept("alertmanager", b"{}")
        a1, a2 = alert("f1"), alert("f2")
        async with j.deciding() as scope:
            [claimed] = await scope.pending_payloads(10)
            assert claimed.id == pid
            rec = await scope.record_batch(
                payload_ids=[pid],
                alerts=[a1, a2],
                decisions=[(0, decision(a1)), (1, decision(a2, Outcome.COOLDOWN))],
            )
        assert len(rec.alert_ids) == 2 and len(rec.decision_ids) == 2
        assert list(rec.execution_ids) == [0], "only the acting decision gets an execution"
        assert j.backlog() == 0
        assert await j.pending_payloads(10) == []
        assert await j.decision_counts() == {"act": 1, "cooldown": 1}
        got = await j.get_alert(rec.alert_ids[1])
        assert got is not None and got.fingerprint == "f2" and got.labels == {"alertname": "HighErrorRate"}
        assert got.starts_at == T0


async def test_failed_batch_rolls_back_and_keeps_payload_pending(backend: Backend) -> None:
    async with backend.open() as j:
        pid = await j.accept("alertmanager", b"{}")
        bad = alert("f1")
        # A decision pointing at an alert index that does not exist fails inside the transaction.
        with pytest.raises(IndexError):
            async with j.deciding() as scope:
                await scope.record_batch(payload_ids=[pid], alerts=[bad], decisions=[(5, decision(bad))])
        assert j.backlog() == 1
        assert [p.id for p in await j.pending_payloads(10)] == [pid]
        assert await j.count("alerts") == 0 and await j.count("decisions") == 0
        rec = await j.record_batch(payload_ids=[pid], alerts=[bad], decisions=[(0, decision(bad))])
        assert len(rec.alert_ids) == 1 and j.backlog() == 0


async def test_execution_lifecycle_and_audit_fields(backend: Backend) -> None:
    async with backend.open() as j:
        a = alert()
        rec = await j.record_batch(payload_ids=[], alerts=[a], decisions=[(0, decision(a))])
        eid = rec.execution_ids[0]
        [pending] = await j.executions(status="pending")
        assert pending.id == eid and pending.started_at is None
        assert await j.start_execution(eid) is True
        assert await j.start_execution(eid) is False, "an execution starts once"
        await j.finish_execution(
            eid,
            ExecutionUpdate(
                status=ExecutionStatus.SUCCEEDED,
                attempts=2,
                changes=(Change(path="spec.replicas", before=2, after=4),),
                summary="scaled 2 -> 4",
            ),
        )
        [ex] = await j.executions(rule="r1")
        assert ex.status is ExecutionStatus.SUCCEEDED and ex.attempts == 2
        assert ex.changes == [{"path": "spec.replicas", "before": 2, "after": 4}]
        assert ex.reason == "because" and ex.target == TARGET.key and ex.started_at is not None
        assert ex.finished_at is not None and not ex.dry_run
        [(rule, target, ok, _)] = await j.execution_outcomes(T0 - timedelta(hours=1))
        assert (rule, target, ok) == ("r1", TARGET.key, True)


async def test_an_execution_is_written_for_only_while_running_and_its_record_of_interruption_stands(
    backend: Backend,
) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        a = alert()
        rec = await j.record_batch(payload_ids=[], alerts=[a], decisions=[(0, decision(a))])
        eid = rec.execution_ids[0]
        assert await j.still_running(eid) is False, "not started: nothing may be written for it yet"
        assert await j.start_execution(eid)
        assert await j.still_running(eid) is True
    async with backend.open(clock=clock) as j:  # the next start (or another replica) takes it over
        [taken] = await j.interrupt_unfinished()
        assert taken.execution_id == eid
        assert await j.still_running(eid) is False, "taken over: its runner writes nothing more"
        late = ExecutionUpdate(status=ExecutionStatus.SUCCEEDED, summary="late")
        assert await j.finish_execution(eid, late) is False, "its runner learns its end is not journaled"
        [ex] = await j.executions()
        assert ex.status is ExecutionStatus.INTERRUPTED and ex.summary != "late"


async def test_each_finish_says_whether_its_end_was_journaled_even_when_finishing_together(
    backend: Backend,
) -> None:
    """A storm's executions finish together (SQLite writes their ends in one batch): each runner
    learns whether its own end was journaled, whatever the others' were."""
    clock = FakeClock(T0)
    a = alert()
    two = [(0, decision(a, target=Target(kind="Deployment", namespace="shop", name=n))) for n in "xy"]
    async with backend.open(clock=clock) as j:
        rec = await j.record_batch(payload_ids=[], alerts=[a], decisions=two)
        for eid in rec.execution_ids.values():
            assert await j.start_execution(eid)
    async with backend.open(clock=clock) as j:
        taken = {t.execution_id for t in await j.interrupt_unfinished()}
        assert taken == set(rec.execution_ids.values())
        fresh = await j.record_batch(payload_ids=[], alerts=[a], decisions=two)
        for eid in fresh.execution_ids.values():
            assert await j.start_execution(eid)
        ok = ExecutionUpdate(status=ExecutionStatus.SUCCEEDED, summary="ok")
        failed = ExecutionUpdate(status=ExecutionStatus.FAILED, error="boom")
        old, new = rec.execution_ids[0], fresh.execution_ids[0]
        other = fresh.execution_ids[1]
        written = await asyncio.gather(
            j.finish_execution(old, ok),
            j.finish_execution(new, ok),
            j.finish_execution(other, failed),
            j.finish_execution(rec.execution_ids[1], failed),
        )
        assert written == [False, True, True, False]
        assert await j.finish_execution(new, failed) is False, "ended once: the first end stands"
        by_id = {ex.id: ex for ex in await j.executions()}
        assert [by_id[e].status for e in (old, new, other, rec.execution_ids[1])] == [
            ExecutionStatus.INTERRUPTED,
            ExecutionStatus.SUCCEEDED,
            ExecutionStatus.FAILED,
            ExecutionStatus.INTERRUPTED,
        ]
        assert await j.finish_execution(other, ok) is False, "alone too: an ended execution stays ended"


async def test_after_a_crash_unfinished_executions_are_interrupted_running_or_queued(
    backend: Backend,
) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        a = alert()
        rec = await j.record_batch(
            payload_ids=[], alerts=[a], decisions=[(0, decision(a)), (0, decision(a, dry_run=True))]
        )
        running, queued = rec.execution_ids[0], rec.execution_ids[1]
        await j.start_execution(running)
    async with backend.open(clock=clock) as j:  # the next start (or another replica)
        interrupted = await j.interrupt_unfinished()
        assert {(i.execution_id, i.started) for i in interrupted} == {(running, True), (queued, False)}
        assert {i.alert_id for i in interrupted} == {rec.alert_ids[0]}
        statuses = {e.id: (e.status, e.error) for e in await j.executions()}
        assert statuses[running][0] is ExecutionStatus.INTERRUPTED
        assert "running" in (statuses[running][1] or "") and "queued" in (statuses[queued][1] or "")
        # A running execution may have changed the cluster: it holds the cooldown. A queued one did not.
        acts = await j.recent_acts(T0 - timedelta(hours=1))
        assert [(r, t, d) for r, t, d, _ in acts] == [("r1", TARGET.key, False)]
        assert await j.interrupt_unfinished() == []
        assert await j.start_execution(queued) is False, "an interrupted execution never starts"


async def test_an_execution_a_budget_refused_while_acting_holds_no_cooldown_after_a_restart(
    backend: Backend,
) -> None:
    """`try later: ` (TRY_LATER) ended it: nothing changed and its decision is deferred again, so the
    next start's cooldown and dedup do not count it. Any other skip still holds the cooldown."""
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        a = alert()
        other = Target(kind="Deployment", namespace="shop", name="other")
        rec = await j.record_batch(
            payload_ids=[], alerts=[a], decisions=[(0, decision(a)), (0, decision(a, target=other))]
        )
        refused, not_needed = rec.execution_ids[0], rec.execution_ids[1]
        for eid, error in (
            (refused, "try later: create pods/eviction 'p' in 'shop': refused by a PodDisruptionBudget"),
            (not_needed, "not needed: already at 4 replicas"),
        ):
            assert await j.start_execution(eid)
            update = ExecutionUpdate(status=ExecutionStatus.SKIPPED, attempts=1, error=error)
            assert update.try_later is (eid == refused)
            await j.finish_execution(eid, update)
    async with backend.open(clock=clock) as j:
        acts = await j.recent_acts(T0 - timedelta(hours=1))
        assert [(r, t) for r, t, _, _ in acts] == [("r1", other.key)]


async def test_overload_is_refused_not_queued(backend: Backend) -> None:
    async with backend.open(max_backlog=3) as j:
        for _ in range(3):
            await j.accept("alertmanager", b"{}")
        with pytest.raises(JournalOverloaded, match="backlog"):
            await j.accept("alertmanager", b"{}")
        assert await j.count("payloads") == 3


async def test_wait_for_payloads_wakes_on_accept(backend: Backend) -> None:
    async with backend.open() as j:
        waiter = asyncio.create_task(j.wait_for_payloads(timeout_s=30))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await j.accept("alertmanager", b"{}")
        async with asyncio.timeout(5):
            await waiter


async def test_approvals_are_decided_once_and_expire(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock, approval_expiry_s=600) as j:
        a, b = alert("a"), alert("b")
        await j.record_batch(
            payload_ids=[],
            alerts=[a, b],
            decisions=[(0, decision(a, Outcome.NEEDS_APPROVAL)), (1, decision(b, Outcome.NEEDS_APPROVAL))],
        )
        first, second = sorted(x["id"] for x in await j.approvals(status="pending"))
        assert await j.decide_approval(first, status="approved", by="alice", note="go") is True
        assert await j.decide_approval(first, status="rejected", by="bob", note="no") is False
        got = await j.get_approval(first)
        assert got is not None and (got["status"], got["decided_by"], got["actions"]) == (
            "approved",
            "alice",
            "rollout_restart",
        )
        clock.advance(601)
        assert await j.decide_approval(second, status="approved", by="alice", note="late") is False
        assert [x["status"] for x in await j.approvals()] == ["expired", "approved"]


async def test_escalations_and_audit_read_back_newest_first(backend: Backend) -> None:
    async with backend.open() as j:
        for n in (1, 2):
            await j.record_escalation(
                rule="r1",
                target=TARGET.key,
                dest="pagerduty",
                kind="trigger",
                dedup_key=f"k{n}",
                status="sent",
                attempts=1,
                error=None,
                execution_id=None,
                summary=f"page {n}",
            )
        assert [e["summary"] for e in await j.escalations()] == ["page 2", "page 1"]
        aid = await j.record_audit(actor="alice", action="pause", detail={"reason": "migration"})
        [entry] = await j.audit()
        assert (entry["id"], entry["actor"], entry["detail"]) == (aid, "alice", {"reason": "migration"})


async def test_read_model_pages_executions_with_who_acted_and_incident_timelines(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        a1, a2 = alert("f1"), alert("f2")
        rec = await j.record_batch(
            payload_ids=[], alerts=[a1, a2], decisions=[(0, decision(a1)), (1, decision(a2, dry_run=True))]
        )
        by_hand = rec.execution_ids[0]
        await j.record_audit(actor="alice", action="trigger", detail={"execution_id": by_hand, "reason": "x"})
        await j.start_execution(by_hand)
        await j.finish_execution(by_hand, ExecutionUpdate(status=ExecutionStatus.SUCCEEDED, summary="ok"))
        first = await j.list_executions(limit=1)
        assert [e["id"] for e in first.items] == [rec.execution_ids[1]] and first.next is not None
        second = await j.list_executions(limit=1, cursor=first.next)
        [mine] = second.items
        assert (mine["id"], mine["who"], mine["via"], mine["status"]) == (
            by_hand,
            "alice",
            "trigger",
            "succeeded",
        )
        assert mine["alert"]["fingerprint"] == "f1" and second.next is None
        assert [e["id"] for e in (await j.list_executions(target="shop/checkout")).items] == [
            rec.execution_ids[1],
            by_hand,
        ]
        assert (await j.list_executions(target="shop/nothing")).items == []
        one = await j.get_execution(by_hand)
        assert one is not None and [x["action"] for x in one["audit"]] == ["trigger"]
        incidents = await j.list_incidents()
        assert {i["fingerprint"] for i in incidents.items} == {"f1", "f2"}
        timeline = await j.incident_timeline(incidents.items[0]["id"])
        assert timeline is not None
        assert [e["type"] for e in timeline["events"]] == ["alert", "decision", "execution"]
        assert (await j.list_audit(actor="alice")).items[0]["detail"]["execution_id"] == by_hand
        assert await j.count("executions") == 2
        await j.ping()


async def test_read_model_pages_decisions_by_rule_outcome_and_target(backend: Backend) -> None:
    """The console's Decisions page: acting or not, newest first, each with its incident and execution."""
    async with backend.open(clock=FakeClock(T0)) as j:
        a1, a2 = alert("f1"), alert("f2")
        rec = await j.record_batch(
            payload_ids=[],
            alerts=[a1, a2],
            decisions=[
                (0, decision(a1)),
                (0, decision(a1, Outcome.COOLDOWN, rule="r2")),
                (1, decision(a2, Outcome.PAUSED)),
            ],
        )
        page = await j.list_decisions(limit=2)
        assert [d["outcome"] for d in page.items] == ["paused", "cooldown"] and page.next is not None
        rest = await j.list_decisions(limit=2, cursor=page.next)
        [acted] = rest.items
        assert acted["execution"] == {"id": rec.execution_ids[0], "status": "pending"}
        assert acted["incident"] == f"f1-{int(T0.timestamp())}" and acted["alertname"] == "HighErrorRate"
        assert (acted["rule"], acted["target"], acted["reason"]) == ("r1", TARGET.key, "because")
        assert rest.next is None
        assert [d["rule"] for d in (await j.list_decisions(rule="r2")).items] == ["r2"]
        assert [d["outcome"] for d in (await j.list_decisions(outcome="act")).items] == ["act"]
        assert len((await j.list_decisions(target="shop/checkout")).items) == 3
        assert (await j.list_decisions(target="shop/nothing")).items == []
        assert (await j.list_decisions(since=T0 + timedelta(seconds=1))).items == []


async def test_own_revisions_are_kept_per_target_oldest_first_and_survive_reopen(backend: Backend) -> None:
    """The pod templates remediator wrote: what tells its own revisions from a deploy after a restart."""
    made = [
        OwnRevision(
            target=TARGET.key,
            template="a" * 64,
            kind="mitigation",
            action="set_env",
            summary="set FALLBACK_ENABLED='true'",
            execution_id=ExecutionId(7),
            made_at=T0,
        ),
        OwnRevision(
            target="shop/Deployment/other",
            template="b" * 64,
            kind="restart",
            action="rollout_restart",
            summary="restarted",
            execution_id=None,
            made_at=T0 + timedelta(minutes=1),
        ),
        OwnRevision(
            target=TARGET.key,
            template="c" * 64,
            kind="restart",
            action="rollout_restart",
            summary="restarted",
            execution_id=ExecutionId(9),
            made_at=T0 + timedelta(minutes=2),
        ),
    ]
    async with backend.open() as j:
        for r in made:
            await j.record_own_revision(r)
    async with backend.open() as j:
        assert await j.own_revisions(TARGET.key) == [made[0], made[2]]
        assert await j.own_revisions("shop/Deployment/other") == [made[1]]
        assert await j.own_revisions("shop/Deployment/none") == []


@pytest.mark.parametrize("chunk", [1000, 2])
async def test_processed_payloads_of_a_source_since_a_time_are_read_back_for_a_replay(
    backend: Backend, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "_REPLAY_CHUNK", chunk)  # read back a chunk at a time, newest first
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        old = await j.accept("pagerduty", b"old")
        await j.record_batch(payload_ids=[old], alerts=[], decisions=[])
        clock.advance(60)
        since = clock.now()
        acked = await j.accept("pagerduty", b"acked")
        other = await j.accept("alertmanager", b"{}")
        waiting = await j.accept("pagerduty", b"not processed yet")
        await j.record_batch(payload_ids=[acked, other], alerts=[], decisions=[])
    async with backend.open(clock=clock) as j:
        [p] = await j.processed_payloads("pagerduty", since)
        assert (p.id, p.source, p.body, p.received_at) == (acked, "pagerduty", b"acked", since)
        assert waiting not in [q.id for q in await j.processed_payloads("pagerduty", T0)]
        assert [q.body for q in await j.processed_payloads("pagerduty", T0)] == [b"old", b"acked"]


async def test_console_sessions_are_kept_by_digest_touched_ended_and_bounded(backend: Backend) -> None:
    def session(n: int, at: datetime) -> ConsoleSession:
        return ConsoleSession(digest=f"d{n}", name="alice", scope="admin", created_at=at, last_seen=at)

    async with backend.open() as j:
        for n in range(3):
            await j.save_console_session(session(n, T0 + timedelta(seconds=n)), keep=3)
        await j.touch_console_session("d0", T0 + timedelta(minutes=5))
        await j.save_console_session(
            session(3, T0 + timedelta(seconds=3)), keep=3
        )  # d1 was seen least lately
    async with backend.open() as j:
        assert await j.console_session("d1") is None
        kept = await j.console_session("d0")
        assert kept is not None and (kept.name, kept.scope) == ("alice", "admin")
        assert (kept.created_at, kept.last_seen) == (T0, T0 + timedelta(minutes=5))
        await j.end_console_session("d0")
        assert await j.console_session("d0") is None
        assert await j.console_session("d3") is not None
