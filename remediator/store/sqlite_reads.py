"""Reads on the SQLite journal's read-only connection: what the guards rebuild from at start-up
(recent acts, execution outcomes) and an alert by id. A base of `SqliteJournal`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from remediator.model import Alert, AlertId, ExecutionStatus, PayloadId
from remediator.store.sqlite_writer import SqliteWriter


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class SqliteReads(SqliteWriter):
    """The guards' history and an alert by id, read while the writer commits (WAL)."""

    async def recent_acts(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        # A queued execution that never started changed nothing, so it does not hold a cooldown; nor does
        # one a disruption budget refused while acting (it is deferred again: TRY_LATER).
        rows = await self._r.execute_fetchall(
            "SELECT e.rule, e.target, e.dry_run, d.decided_at FROM executions e"
            " JOIN decisions d ON d.id = e.decision_id"
            " WHERE d.decided_at >= ? AND NOT (e.status = ? AND e.started_at IS NULL)"
            " AND NOT (e.status = 'skipped' AND e.error LIKE 'try later: %') ORDER BY d.decided_at",
            (since.timestamp(), ExecutionStatus.INTERRUPTED.value),
        )
        return [(r[0], r[1], bool(r[2]), datetime.fromtimestamp(r[3], UTC)) for r in rows]

    async def get_alert(self, alert_id: AlertId) -> Alert | None:
        rows = list(
            await self._r.execute_fetchall(
                "SELECT payload_id, source, fingerprint, status, starts_at, ends_at, labels, annotations,"
                " generator_url FROM alerts WHERE id = ?",
                (alert_id,),
            )
        )
        if not rows:
            return None
        r = rows[0]
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

    async def execution_outcomes(self, since: datetime) -> list[tuple[str, str, bool, datetime]]:
        """(rule, target, succeeded, finished_at) of real executions that ended either way, oldest first:
        the circuit breaker's history."""
        rows = await self._r.execute_fetchall(
            "SELECT rule, target, status, finished_at FROM executions"
            " WHERE dry_run = 0 AND status IN (?, ?) AND finished_at >= ? ORDER BY finished_at, id",
            (ExecutionStatus.SUCCEEDED.value, ExecutionStatus.FAILED.value, since.timestamp()),
        )
        return [
            (r[0], r[1], r[2] == ExecutionStatus.SUCCEEDED.value, datetime.fromtimestamp(r[3], UTC))
            for r in rows
        ]
