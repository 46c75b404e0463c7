"""Schema versions, both back-ends: a journal from the previous release (PostgreSQL: its first schema)
is migrated with its work intact; one from a newer release is refused."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from remediator import cli
from remediator.model import ExecutionStatus
from remediator.store import postgres_schema
from remediator.store.migrations import JournalSchemaTooNew
from remediator.store.postgres import PostgresJournal
from remediator.store.sqlite import SqliteJournal
from remediator.store.sqlite_schema import LATEST
from tests.pgserver import PASSWORD_ENV

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


async def test_a_postgresql_journal_at_its_first_schema_is_migrated_with_its_work_intact(pg_url: str) -> None:
    """The PostgreSQL back-end is newer than 0.1.0: its oldest schema is its version 1. A database left
    there by an older remediator, with work in flight, is brought to the latest version on open."""
    conn = await asyncpg.connect(pg_url, password=os.environ[PASSWORD_ENV])
    try:
        async with conn.transaction():
            for statement in postgres_schema.STEPS[0].statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version VALUES (1, 1763856000.0, 'the journal')")
            await conn.execute(
                "INSERT INTO payloads(source, received_at, body, processed_at) VALUES"
                " ('alertmanager', 1763856000.0, '\\x7b7d', 1763856001.0),"
                " ('alertmanager', 1763856002.0, '\\x5b5d', NULL)"
            )
            await conn.execute(
                "INSERT INTO alerts(payload_id, source, fingerprint, status, starts_at, ends_at, labels,"
                " annotations, generator_url) VALUES (1, 'alertmanager', 'fp1', 'firing', 1763856000.0,"
                " NULL, '{\"alertname\": \"AuthFailures\"}', '{}', '')"
            )
            await conn.execute(
                "INSERT INTO decisions(alert_id, rule, target, actions, outcome, reason, dry_run, decided_at)"
                " VALUES (1, 'restart', 'shop/Deployment/search', 'rollout_restart', 'act', 'matched', 0,"
                " 1763856001.0)"
            )
            await conn.execute(
                "INSERT INTO executions(decision_id, alert_id, rule, target, actions, dry_run, status,"
                " created_at, started_at, owner) VALUES (1, 1, 'restart', 'shop/Deployment/search',"
                " 'rollout_restart', 0, 'running', 1763856001.0, 1763856001.5, 'old-replica')"
            )
            await conn.execute(
                "INSERT INTO replicas(id, host, lease_until)"
                " VALUES ('old-replica', 'h', now() - interval '1 hour')"
            )
    finally:
        await conn.close()
    async with PostgresJournal.open(pg_url, password=os.environ[PASSWORD_ENV]) as j:
        assert j.backlog() == 1
        [pending] = await j.pending_payloads(10)
        assert (pending.id, pending.body) == (2, b"[]")
        [interrupted] = await j.interrupt_unfinished()
        assert (interrupted.execution_id, interrupted.started) == (1, True)
        assert await j.accept("alertmanager", b"{}") == 3, "ids continue after the migrated rows"
        [execution] = await j.executions()
        assert execution.status is ExecutionStatus.INTERRUPTED
    conn = await asyncpg.connect(pg_url, password=os.environ[PASSWORD_ENV])
    try:
        applied = [r[0] for r in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
    finally:
        await conn.close()
    assert applied == list(range(1, postgres_schema.LATEST + 1))
