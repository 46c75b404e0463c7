"""Reads on the shared journal: the read model's SQL on the pool, the guards' history at start-up,
and the row conversions the other PostgreSQL modules share. A mixin of `PostgresJournal`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from remediator.model import Alert, AlertId, ExecutionStatus, PayloadId, Source
from remediator.store.records import StoredPayload


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class PostgresReader:
    """The read model's SQL (`?` parameters, see queries.py) on the pool, as `$n` parameters."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> list[asyncpg.Record]:
        return list(await self._pool.fetch(_numbered(sql), *(parameters or ())))


@functools.lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (none of the read model's literals holds a `?`)."""
    parts = sql.split("?")
    return "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], start=1)) + parts[-1]


def stored_payload(r: asyncpg.Record) -> StoredPayload:
    """A `payloads` row (id, source, received_at, body) as the value the processor reads."""
    return StoredPayload(
        id=PayloadId(r[0]),
        source=cast(Source, r[1]),
        received_at=datetime.fromtimestamp(r[2], UTC),
        body=bytes(r[3]),
    )


async def fetch_alert(conn: asyncpg.Connection, alert_id: AlertId) -> Alert | None:
    """An alert by id, on the given connection: the pool's, or a decision transaction's."""
    r = await conn.fetchrow(
        "SELECT payload_id, source, fingerprint, status, starts_at, ends_at, labels, annotations,"
        " generator_url FROM alerts WHERE id = $1",
        alert_id,
    )
    if r is None:
        return None
    return Alert(
        payload_id=PayloadId(r[0]) if r[0] is not None else None,
        source=r[1],
        fingerprint=r[2],
        status=r[3],
        starts_at=datetime.fromtimestamp(r[4], UTC),
        ends_at=_dt(r[5]),
        labels=json.loads(r[6]),
        annotations=json.loads(r[7]),
        generator_url=r[8],
    )


class PostgresReads:
    """What the guards rebuild from at start-up, and an alert by id."""

    _pool: asyncpg.Pool

    async def recent_acts(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        rows = await self._pool.fetch(
            "SELECT e.rule, e.target, e.dry_run, d.decided_at FROM executions e"
            " JOIN decisions d ON d.id = e.decision_id"
            " WHERE d.decided_at >= $1 AND NOT (e.status = 'interrupted' AND e.started_at IS NULL)"
            " AND NOT (e.status = 'skipped' AND e.error LIKE 'try later: %')"  # deferred again: TRY_LATER
            " ORDER BY d.decided_at, e.id",
            since.timestamp(),
        )
        return [(r[0], r[1], bool(r[2]), datetime.fromtimestamp(r[3], UTC)) for r in rows]

    async def execution_outcomes(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        rows = await self._pool.fetch(
            "SELECT rule, target, status, finished_at FROM executions"
            " WHERE dry_run = 0 AND status IN ('succeeded', 'failed') AND finished_at >= $1"
            " ORDER BY finished_at, id",
            since.timestamp(),
        )
        return [
            (r[0], r[1], r[2] == ExecutionStatus.SUCCEEDED.value, datetime.fromtimestamp(r[3], UTC))
            for r in rows
        ]

    async def get_alert(self, alert_id: AlertId) -> Alert | None:
        async with self._pool.acquire() as conn:
            return await fetch_alert(conn, alert_id)
