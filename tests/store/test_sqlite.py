"""The journal: durable intake with group commit, atomic batches, crash recovery state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediator.clock import FakeClock
from remediator.model import ActionSpec, Alert, Change, Decision, ExecutionStatus, Outcome, RuleName, Target
from remediator.store import ExecutionUpdate, JournalOverloaded, JournalUnavailable
from remediator.store.sqlite import SqliteJournal

T0 = datetime(2026, 11, 23, tzinfo=UTC)
TARGET = Target(kind="Deployment", namespace="shop", name="checkout")


def alert(fp: str = "abc", status: str = "firing") -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=fp,
        status=status,  # type: ignore[arg-type]
        labels={"alertname": "HighErrorRate"},
        annotations={"value": "42"},
        starts_at=T0,
    )


def decision(
    a: Alert, outcome: Outcome = Outcome.ACT, *, at: datetime = T0, dry_run: bool = False
) -> Decision:
    return Decision(
        alert=a,
        rule=RuleName("r1"),
        target=TARGET,
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=outcome,
        reason="because",
        dry_run=dry_run,
        decided_at=at,
    )


async def test_concurrent_accepts_share_commits(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        ids = await asyncio.gather(*(j.accept("alertmanager", b'{"n": %d}' % i) for i in range(200)))
        assert sorted(ids) == list(range(1, 201))
        assert j.backlog() == 200
        assert j.commits < 50, f"200 concurrent accepts took {j.commits} commits: no group commit"
        pending = await j.pending_payloads(500)
        assert [p.id for p in pending] == sorted(ids)
        assert pending[0].body == b'{"n": 0}'


async def test_accepted_payloads_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    async with SqliteJournal.open(path) as j:
        await j.accept("alertmanager", b"{}")
        await j.accept("alertmanager", b"[]")
    async with SqliteJournal.open(path) as j:
        assert j.backlog() == 2
        assert [p.body for p in await j.pending_payloads(10)] == [b"{}", b"[]"]
        assert await j.accept("alertmanager", b"{}") == 3  # ids continue after a restart


async def test_record_batch_is_atomic_and_marks_processed(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        pid = await j.accept("alertmanager", b"{}")
        a1, a2 = alert("f1"), alert("f2")
        rec = await j.record_batch(
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


async def test_failed_batch_rolls_back_and_keeps_payload_pending(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        pid = await j.accept("alertmanager", b"{}")
        bad = alert("f1")
        # A decision pointing at an alert index that does not exist fails inside the transaction.
        with pytest.raises(IndexError):
            await j.record_batch(payload_ids=[pid], alerts=[bad], decisions=[(5, decision(bad))])
        assert j.backlog() == 1
        assert [p.id for p in await j.pending_payloads(10)] == [pid]
        assert await j.count("alerts") == 0 and await j.count("decisions") == 0
        # and the ids taken by the failed job are reused, not skipped
        rec = await j.record_batch(payload_ids=[pid], alerts=[bad], decisions=[(0, decision(bad))])
        assert rec.alert_ids == (1,)


async def test_execution_lifecycle_and_audit_fields(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        a = alert()
        rec = await j.record_batch(payload_ids=[], alerts=[a], decisions=[(0, decision(a))])
        eid = rec.execution_ids[0]
        await j.start_execution(eid)
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


async def test_interrupt_unfinished_tells_running_from_queued(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    async with SqliteJournal.open(tmp_path / "j.sqlite", clock=clock) as j:
        a = alert()
        rec = await j.record_batch(
            payload_ids=[], alerts=[a], decisions=[(0, decision(a)), (0, decision(a, dry_run=True))]
        )
        running, queued = rec.execution_ids[0], rec.execution_ids[1]
        await j.start_execution(running)
        interrupted = await j.interrupt_unfinished()
        assert {(i.execution_id, i.started) for i in interrupted} == {(running, True), (queued, False)}
        statuses = {e.id: (e.status, e.error) for e in await j.executions()}
        assert statuses[running][0] is ExecutionStatus.INTERRUPTED
        assert "running" in (statuses[running][1] or "") and "queued" in (statuses[queued][1] or "")
        # A running execution may have changed the cluster: it holds the cooldown. A queued one did not.
        acts = await j.recent_acts(T0 - timedelta(hours=1))
        assert [(r, t, d) for r, t, d, _ in acts] == [("r1", TARGET.key, False)]
        assert await j.interrupt_unfinished() == []


async def test_overload_is_refused_not_queued(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite", max_backlog=3) as j:
        for _ in range(3):
            await j.accept("alertmanager", b"{}")
        with pytest.raises(JournalOverloaded, match="backlog"):
            await j.accept("alertmanager", b"{}")
        assert await j.count("payloads") == 3


async def test_unwritable_journal_raises_unavailable(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        await j._w.execute("PRAGMA query_only = ON")  # simulate a disk that refuses writes
        with pytest.raises(JournalUnavailable):
            await j.accept("alertmanager", b"{}")
        await j._w.execute("PRAGMA query_only = OFF")
        assert await j.accept("alertmanager", b"{}") == 1
