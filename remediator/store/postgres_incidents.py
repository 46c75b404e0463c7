"""Open escalations in PostgreSQL: a mixin of `PostgresJournal` (see `incidents.py`)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from remediator.store.incidents import OpenEscalation


class PostgresIncidentRecords:
    _pool: asyncpg.Pool

    async def open_escalation(self, escalation: OpenEscalation) -> bool:
        e = escalation
        # The alert's latest row now is the firing one being escalated: a resolution after it closes it.
        opened = await self._pool.fetchval(
            "INSERT INTO open_escalations(dedup_key, rule, target, fingerprint, pagerduty, opened_at,"
            " alert_id) VALUES ($1, $2, $3, $4, $5, $6, (SELECT MAX(id) FROM alerts WHERE fingerprint = $4))"
            " ON CONFLICT (dedup_key) DO NOTHING RETURNING 1",
            e.dedup_key,
            e.rule,
            e.target,
            e.fingerprint,
            int(e.pagerduty),
            e.opened_at.timestamp(),
        )
        return opened is not None

    async def close_escalation(self, dedup_key: str) -> bool:
        done = await self._pool.execute("DELETE FROM open_escalations WHERE dedup_key = $1", dedup_key)
        return bool(done != "DELETE 0")

    async def open_escalations(self) -> list[OpenEscalation]:
        rows = await self._pool.fetch(
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
