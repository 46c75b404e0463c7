"""Own revisions in the SQLite journal (see `revisions.py`). A base of `SqliteJournal`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import cast

from remediator.model import ExecutionId
from remediator.store.revisions import OwnKind, OwnRevision
from remediator.store.sqlite_writer import SqliteWriter


class OwnRevisionRecords(SqliteWriter):
    async def record_own_revision(self, revision: OwnRevision) -> None:
        row = (
            revision.made_at.timestamp(),
            revision.target,
            revision.template,
            revision.kind,
            revision.action,
            revision.summary,
            revision.execution_id,
        )

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO own_revisions(made_at, target, template, kind, action, summary, execution_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._submit(job)

    async def own_revisions(self, target: str) -> list[OwnRevision]:
        rows = await self._r.execute_fetchall(
            "SELECT made_at, target, template, kind, action, summary, execution_id FROM own_revisions"
            " WHERE target = ? ORDER BY id",
            (target,),
        )
        return [
            OwnRevision(
                made_at=datetime.fromtimestamp(r[0], UTC),
                target=r[1],
                template=r[2],
                kind=cast(OwnKind, r[3]),
                action=r[4],
                summary=r[5],
                execution_id=ExecutionId(r[6]) if r[6] is not None else None,
            )
            for r in rows
        ]
