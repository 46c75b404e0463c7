"""Open escalations in SQLite: a mixin of `SqliteJournal` (see `incidents.py`)."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosqlite

from remediator.store.incidents import OpenEscalation
from remediator.store.sqlite_writer import SqliteWriter


class IncidentRecords(SqliteWriter):
    async def open_escalation(self, escalation: OpenEscalation) -> bool:
        e = escalation

        async def job(db: aiosqlite.Connection) -> bool:
            # The alert's latest row now is the firing one being escalated: a resolution after it closes it.
            cur = await db.execute(
                "INSERT INTO open_escalations(dedup_key, rule, target, fingerprint, pagerduty, opened_at,"
                " alert_id) VALUES (?, ?, ?, ?, ?, ?, (SELECT MAX(id) FROM alerts WHERE fingerprint = ?))"
                " ON CONFLICT(dedup_key) DO NOTHING",
                (
                    e.dedup_key,
                    e.rule,
                    e.target,
                    e.fingerprint,
                    int(e.pagerduty),
                    e.opened_at.timestamp(),
                    e.fingerprint,
                ),
            )
            return bool(cur.rowcount)

        return await self._submit(job)

    async def close_escalation(self, dedup_key: str) -> bool:
        async def job(db: aiosqlite.Connection) -> bool:
            cur = await db.execute("DELETE FROM open_escalations WHERE dedup_key = ?", (dedup_key,))
            return bool(cur.rowcount)

        return await self._submit(job)

    async def open_escalations(self) -> list[OpenEscalation]:
        rows = await self._r.execute_fetchall(
            "SELECT o.dedup_key, o.rule, o.target, o.fingerprint, o.pagerduty, o.opened_at,"
            " EXISTS (SELECT 1 FROM alerts a WHERE a.fingerprint = o.fingerprint AND a.status = 'resolved'"
            " AND a.id > COALESCE(o.alert_id, 0))"
            " FROM open_escalations o ORDER BY o.opened_at"
        )
        return [
            OpenEscalation(
                dedup_key=r[0],
                rule=r[1],
                target=r[2],
                fingerprint=r[3],
                pagerduty=bool(r[4]),
                opened_at=datetime.fromtimestamp(r[5], UTC),
                resolved=bool(r[6]),
            )
            for r in rows
        ]
