"""Schema versions: a journal from the previous release is migrated; one from a newer release is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from remediator import cli
from remediator.model import ExecutionStatus
from remediator.store.migrations import JournalSchemaTooNew
from remediator.store.sqlite import SqliteJournal
from remediator.store.sqlite_schema import LATEST

V1_SQL = Path(__file__).parent / "testdata" / "journal-v1.sql"


def write_v1_journal(path: Path) -> None:
    """A journal as remediator 0.1.0 left it: a payload not yet processed, an execution running."""
    db = sqlite3.connect(path)
    db.executescript(V1_SQL.read_text())
    db.executescript(
        """
        INSERT INTO payloads(id, source, received_at, body, processed_at)
            VALUES (1, 'alertmanager', 1763856000.0, x'7b7d', 1763856001.0),
                   (2, 'alertmanager', 1763856002.0, x'5b5d', NULL);
        INSERT INTO alerts VALUES (1, 1, 'alertmanager', 'fp1', 'firing', 1763856000.0, NULL,
            '{"alertname": "AuthFailures"}', '{}', '');
        INSERT INTO decisions VALUES (1, 1, 'restart', 'shop/Deployment/search', 'rollout_restart',
            'act', 'matched', 0, 1763856001.0);
        INSERT INTO executions(id, decision_id, alert_id, rule, target, actions, dry_run, status,
            created_at, started_at) VALUES (1, 1, 1, 'restart', 'shop/Deployment/search',
            'rollout_restart', 0, 'running', 1763856001.0, 1763856001.5);
        """
    )
    db.commit()
    db.close()


def versions(path: Path) -> list[int]:
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
    finally:
        db.close()


async def test_previous_release_journal_is_migrated_with_its_work_intact(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    write_v1_journal(path)
    async with SqliteJournal.open(path) as j:
        assert j.backlog() == 1
        [pending] = await j.pending_payloads(10)
        assert (pending.id, pending.body) == (2, b"[]")
        [interrupted] = await j.interrupt_unfinished()
        assert (interrupted.execution_id, interrupted.started) == (1, True)
        assert await j.accept("alertmanager", b"{}") == 3, "ids continue after the migrated rows"
        [execution] = await j.executions()
        assert execution.status is ExecutionStatus.INTERRUPTED
    assert versions(path) == list(range(2, LATEST + 1))


async def test_a_fresh_journal_starts_at_the_latest_version_and_reopens_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    async with SqliteJournal.open(path) as j:
        await j.accept("alertmanager", b"{}")
    async with SqliteJournal.open(path) as j:
        assert j.backlog() == 1
    assert versions(path)[-1] == LATEST
    assert len(versions(path)) == len(set(versions(path)))


async def test_a_journal_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    async with SqliteJournal.open(path):
        pass
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (?, 0, 'from the future')", (LATEST + 1,))
    db.commit()
    db.close()
    with pytest.raises(JournalSchemaTooNew) as e:
        async with SqliteJournal.open(path):
            pass
    message = str(e.value)
    assert "\n" not in message
    assert f"schema version {LATEST + 1}, newer than this remediator knows ({LATEST})" in message
    assert str(path) in message
    assert versions(path)[-1] == LATEST + 1, "a refused journal is left as it was"


def test_serve_refuses_a_newer_journal_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "journal.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SQL.read_text())
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL, description TEXT)")
    db.execute("INSERT INTO schema_version VALUES (99, 0, 'from the future')")
    db.commit()
    db.close()
    (tmp_path / "rules").mkdir()
    config = tmp_path / "remediator.yaml"
    config.write_text(
        f"journal: {{path: {path}}}\nkubernetes: {{mode: none}}\nrules: [{tmp_path / 'rules'}]\n"
    )
    assert cli.main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"remediator: journal {path} is at schema version 99, newer than this remediator knows "
        f"({LATEST}): run the newer release, or restore the backup taken before the upgrade"
    ]
