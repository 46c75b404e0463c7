"""Own revisions on the shared journal (see `revisions.py`). A mixin of `PostgresJournal`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import asyncpg

from remediator.model import ExecutionId
from remediator.store.revisions import OwnKind, OwnRevision


class PostgresOwnRevisions:
    _pool: asyncpg.Pool

    async def record_own_revision(self, revision: OwnRevision) -> None:
        await self._pool.execute(
            "INSERT INTO own_revisions(made_at, target, template, kind, action, summary, execution_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            revision.made_at.timestamp(),
            revision.target,
            revision.template,
            revision.kind,
            revision.action,
            revision.summary,
            revision.execution_id,
        )

    async def own_revisions(self, target: str) -> list[OwnRevision]:
        rows = await self._pool.fetch(
            "SELECT made_at, target, template, kind, action, summary, execution_id FROM own_revisions"
            " WHERE target = $1 ORDER BY id",
            target,
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
