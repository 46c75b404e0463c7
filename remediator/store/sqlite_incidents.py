"""Incidents and open escalations in SQLite: a mixin of `SqliteJournal` (see `incidents.py`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from remediator.model import AlertId
from remediator.store.incidents import (
    IncidentChange,
    IncidentEvent,
    IncidentRecord,
    IncidentState,
    OpenEscalation,
    incident_doc,
    incident_from_doc,
)
from remediator.store.sqlite_scheduling import SchedulingRecords


class IncidentRecords(SchedulingRecords):
    async def open_escalation(self, escalation: OpenEscalation) -> bool:
        e = escalation

        def job(db: sqlite3.Connection) -> bool:
            # The alert's latest row now is the firing one being escalated: a resolution after it closes it.
            cur = db.execute(
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
        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM open_escalations WHERE dedup_key = ?", (dedup_key,))
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

    # -- incidents -------------------------------------------------------------------------------

    async def save_incidents(self, changes: Sequence[IncidentChange]) -> None:
        if not changes:
            return
        now = self._clock.now().timestamp()
        # The rows are made here, on the loop: the job runs while the writer holds the write lock.
        incidents = [
            (
                c.incident.id,
                c.incident.key,
                c.incident.state,
                c.incident.severity,
                c.incident.opened_at.timestamp(),
                c.incident.updated_at.timestamp(),
                incident_doc(c.incident),
            )
            for c in changes
        ]
        events = [
            (c.incident.id, e.at.timestamp(), e.kind, e.text, json.dumps(dict(e.detail), default=str))
            for c in changes
            for e in c.events
        ]
        alerts = [(a, c.incident.id) for c in changes for a in c.alert_ids]
        timers = [
            (tuple(c.cancel), f"incident {c.incident.id} is {c.incident.state}", tuple(c.timers))
            for c in changes
        ]

        def job(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO incidents(id, key, state, severity, opened_at, updated_at, doc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
                " severity = excluded.severity, updated_at = excluded.updated_at, doc = excluded.doc",
                incidents,
            )
            db.executemany(
                "INSERT INTO incident_events(incident_id, at, kind, text, detail) VALUES (?, ?, ?, ?, ?)",
                events,
            )
            db.executemany(
                "INSERT INTO incident_alerts(alert_id, incident_id) VALUES (?, ?)"
                " ON CONFLICT(alert_id) DO NOTHING",
                alerts,
            )
            for cancel, reason, new in timers:  # in the changes' order: a later change may move a timer again
                self._cancel_timers(db, cancel, reason, now)
                self._insert_timers(db, new, now)

        await self._submit(job)

    async def live_incidents(self) -> list[IncidentRecord]:
        rows = await self._r.execute_fetchall(
            "SELECT doc FROM incidents WHERE state != 'resolved' ORDER BY opened_at, id"
        )
        return [incident_from_doc(r[0]) for r in rows]

    async def incident(self, incident_id: str) -> IncidentRecord | None:
        rows = list(await self._r.execute_fetchall("SELECT doc FROM incidents WHERE id = ?", (incident_id,)))
        return incident_from_doc(rows[0][0]) if rows else None

    async def incidents(self, *, state: IncidentState | None = None, limit: int = 50) -> list[IncidentRecord]:
        if state is None:
            rows = await self._r.execute_fetchall(
                "SELECT doc FROM incidents ORDER BY opened_at DESC, id DESC LIMIT ?", (limit,)
            )
        else:
            rows = await self._r.execute_fetchall(
                "SELECT doc FROM incidents WHERE state = ? ORDER BY opened_at DESC, id DESC LIMIT ?",
                (state, limit),
            )
        return [incident_from_doc(r[0]) for r in rows]

    async def incident_events(self, incident_id: str) -> list[IncidentEvent]:
        rows = await self._r.execute_fetchall(
            "SELECT at, kind, text, detail FROM incident_events WHERE incident_id = ? ORDER BY id",
            (incident_id,),
        )
        return [
            IncidentEvent(at=datetime.fromtimestamp(r[0], UTC), kind=r[1], text=r[2], detail=json.loads(r[3]))
            for r in rows
        ]

    async def incident_alerts(self, incident_id: str) -> list[AlertId]:
        rows = await self._r.execute_fetchall(
            "SELECT alert_id FROM incident_alerts WHERE incident_id = ? ORDER BY alert_id", (incident_id,)
        )
        return [AlertId(r[0]) for r in rows]
