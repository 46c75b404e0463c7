"""What only the SQLite journal promises: ids assigned by its single writer, and a refused disk.

Everything both back-ends promise is in `test_journal_contract.py`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from remediator.model import ExecutionStatus, Target
from remediator.store import ExecutionUpdate, JournalUnavailable
from remediator.store.sqlite import SqliteJournal
from remediator.store.sqlite_rows import RowBatch
from tests.store.conftest import alert, decision


async def test_ids_are_dense_in_commit_order(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        ids = await asyncio.gather(*(j.accept("alertmanager", b"{}") for _ in range(200)))
        assert sorted(ids) == list(range(1, 201))


async def test_a_group_commit_is_one_call_into_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        ran_on: set[int] = set()

        def job(db: sqlite3.Connection) -> int:
            ran_on.add(threading.get_ident())
            return int(db.execute("SELECT COUNT(*) FROM payloads").fetchone()[0])

        calls = 0
        submit = j._thread.submit

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return submit(*args, **kwargs)

        monkeypatch.setattr(j._thread, "submit", counted)
        commits = j.commits
        results = await asyncio.gather(
            *(j.accept("alertmanager", b"{}") for _ in range(50)), *(j._submit(job) for _ in range(50))
        )
        assert j.commits == commits + 1 and calls == 1  # 50 payloads and 50 jobs: one transaction, one call
        assert (
            results[50:] == [50] * 50
        )  # each job saw the payloads inserted before it, in the same transaction
        assert len(ran_on) == 1 and threading.get_ident() not in ran_on  # the writer's thread, not the loop's


async def test_ids_taken_by_a_failed_batch_are_reused(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        pid = await j.accept("alertmanager", b"{}")
        bad = alert("f1")
        with pytest.raises(IndexError):
            await j.record_batch(payload_ids=[pid], alerts=[bad], decisions=[(5, decision(bad))])
        rec = await j.record_batch(payload_ids=[pid], alerts=[bad], decisions=[(0, decision(bad))])
        assert rec.alert_ids == (1,)


async def test_unwritable_journal_raises_unavailable(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        await j._call(lambda db: db.execute("PRAGMA query_only = ON"))  # simulate a disk that refuses writes
        with pytest.raises(JournalUnavailable):
            await j.accept("alertmanager", b"{}")
        await j._call(lambda db: db.execute("PRAGMA query_only = OFF"))
        assert await j.accept("alertmanager", b"{}") == 1


async def test_executions_finishing_together_each_keep_their_own_result(
    tmp_path: Path,
) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        alerts = [alert(f"f{i}") for i in range(40)]
        rec = await j.record_batch(
            payload_ids=[],
            alerts=alerts,
            decisions=[
                (i, decision(a, target=Target(kind="Deployment", namespace="shop", name=f"d{i}")))
                for i, a in enumerate(alerts)
            ],
        )
        ids = [rec.execution_ids[i] for i in range(40)]
        await asyncio.gather(
            *(
                j.finish_execution(
                    eid, ExecutionUpdate(status=ExecutionStatus.SUCCEEDED, summary=f"done {eid}")
                )
                for eid in ids
            )
        )
        done = {ex.id: ex for ex in await j.executions()}
        assert all(done[eid].status is ExecutionStatus.SUCCEEDED for eid in ids)
        assert [done[eid].summary for eid in ids] == [f"done {eid}" for eid in ids]


async def test_a_row_that_fails_fails_only_its_own_writer(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        pids = [await j.accept("alertmanager", b"{}") for _ in range(3)]
        rows = RowBatch("UPDATE payloads SET source = ? WHERE id = ?", j._submit)
        results = await asyncio.gather(
            rows.write(("a", pids[0])),
            rows.write((object(), pids[1])),  # cannot be bound: the database refuses this row only
            rows.write(("c", pids[2])),
            return_exceptions=True,
        )
        assert results[0] == 1 and results[2] == 1
        assert isinstance(results[1], JournalUnavailable)
        sources = await j._r.execute_fetchall("SELECT source FROM payloads ORDER BY id")
        assert [s for (s,) in sources] == ["a", "alertmanager", "c"]


@pytest.mark.parametrize("keyed", [True, False])
async def test_each_row_learns_how_many_rows_it_changed(tmp_path: Path, keyed: bool) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        pids = [await j.accept("alertmanager", b"{}") for _ in range(3)]
        rows = RowBatch("UPDATE payloads SET source = ? WHERE id = ? AND source != ?", j._submit, keyed=keyed)
        changed = await asyncio.gather(
            rows.write(("a", pids[0], "a")),
            rows.write(("b", pids[1], "alertmanager")),  # finds its row not as it expects: changes none
            rows.write(("c", pids[2], "c")),
            rows.write(("d", pids[0], "a")),  # its row was changed by the first: changes none
            rows.write(("e", 10_000, "e")),  # no such row
        )
        assert changed == [1, 0, 1, 0, 0]
        assert await asyncio.gather(rows.write(("f", pids[1], "f")), rows.write(("g", pids[2], "g"))) == [
            1,
            1,
        ]
        assert await asyncio.gather(rows.write(("h", 10_001, "h")), rows.write(("i", 10_002, "i"))) == [0, 0]
        sources = await j._r.execute_fetchall("SELECT source FROM payloads ORDER BY id")
        assert [s for (s,) in sources] == ["a", "f", "g"]


async def test_rows_of_a_failed_commit_all_fail(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        pid = await j.accept("alertmanager", b"{}")
        rows = RowBatch("UPDATE payloads SET source = ? WHERE id = ?", j._submit)
        await j._call(
            lambda db: db.execute("PRAGMA query_only = ON")
        )  # the disk refuses the transaction itself
        results = await asyncio.gather(rows.write(("a", pid)), rows.write(("b", pid)), return_exceptions=True)
        assert all(isinstance(r, JournalUnavailable) for r in results)
        await j._call(lambda db: db.execute("PRAGMA query_only = OFF"))
        await rows.write(("c", pid))  # and the next ones are written
        [(source,)] = await j._r.execute_fetchall("SELECT source FROM payloads")
        assert source == "c"
