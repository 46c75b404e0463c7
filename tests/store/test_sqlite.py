"""What only the SQLite journal promises: ids assigned by its single writer, and a refused disk.

Everything both back-ends promise is in `test_journal_contract.py`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from remediator.store import JournalUnavailable
from remediator.store.sqlite import SqliteJournal
from tests.store.conftest import alert, decision


async def test_ids_are_dense_in_commit_order(tmp_path: Path) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite") as j:
        ids = await asyncio.gather(*(j.accept("alertmanager", b"{}") for _ in range(200)))
        assert sorted(ids) == list(range(1, 201))


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
        await j._w.execute("PRAGMA query_only = ON")  # simulate a disk that refuses writes
        with pytest.raises(JournalUnavailable):
            await j.accept("alertmanager", b"{}")
        await j._w.execute("PRAGMA query_only = OFF")
        assert await j.accept("alertmanager", b"{}") == 1
