"""The SQLite journal's incidents: alert episodes, and one episode's timeline end to end.

An incident is one alert episode, `(fingerprint, startsAt)`. Its timeline gathers, in time order,
its alerts (firing, resolved), the decisions on them, their executions, and the escalations that
went with them; the steps below each read one of those. Part of the `ReadModel` (queries.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from remediator.store.queries import ReadQueries
from remediator.store.readmodel import (
    Page,
    incident_id,
    iso,
    listing,
    mapping,
    parse_cursor,
    split_incident_id,
)

_Event = tuple[float, int, dict[str, Any]]
"""(time, order among equal times: alert, decision, execution, escalation, the event)."""


def _alert_events(alerts: Sequence[Sequence[Any]]) -> list[_Event]:
    """Each alert at the time its payload arrived (a resolved one at its end, firing at its start,
    when the payload is not in the journal)."""
    events: list[_Event] = []
    for aid, _src, _fp, status, starts_at, ends_at, _labels, notes, _url, received_at in alerts:
        at = received_at if received_at is not None else (ends_at if status == "resolved" else starts_at)
        ann = mapping(notes)
        event = {
            "type": "alert",
            "at": iso(at),
            "alert_id": aid,
            "status": status,
            "summary": ann.get("summary") or ann.get("description") or "",
            "value": ann.get("value"),
        }
        events.append((at, 0, event))
    return events


class IncidentQueries(ReadQueries):
    async def list_incidents(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Alert episodes (fingerprint, startsAt), newest first by the first alert row of each.

        A page is found by walking alert rows down from the cursor and keeping the first row of each
        episode (the fingerprint index makes that check cheap), so the cost follows the page, not the
        journal. `status` filters after aggregation: a page may then hold fewer than `limit` items
        while `next` still points further down.
        """
        below = parse_cursor(cursor)
        where: list[str] = ["a.id < ?"]
        args: list[Any] = [below]
        if since is not None:
            where.append("a.starts_at >= ?")
            args.append(since.timestamp())
        firsts = list(
            await self._reads.execute_fetchall(
                "SELECT a.id, a.fingerprint, a.starts_at FROM alerts a WHERE "
                + " AND ".join(where)
                + " AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.fingerprint = a.fingerprint"
                " AND b.starts_at = a.starts_at AND b.id < a.id) ORDER BY a.id DESC LIMIT ?",
                (*args, limit + 1),
            )
        )
        more = len(firsts) > limit
        firsts = firsts[:limit]
        episodes = await self._episodes([(r[1], r[2]) for r in firsts])
        items = []
        for _, fingerprint, starts_at in firsts:
            ep = episodes[(fingerprint, starts_at)]
            if status is None or ep["status"] == status:
                items.append(ep)
        return Page(items=items, next=str(firsts[-1][0]) if more else None)

    async def _episodes(self, keys: Sequence[tuple[str, float]]) -> dict[tuple[str, float], dict[str, Any]]:
        if not keys:
            return {}
        fingerprints = sorted({fp for fp, _ in keys})
        wanted = set(keys)
        marks = ",".join("?" * len(fingerprints))
        rows = await self._reads.execute_fetchall(
            "SELECT id, fingerprint, starts_at, status, ends_at, labels, annotations, source FROM alerts"
            f" WHERE fingerprint IN ({marks}) ORDER BY id",
            fingerprints,
        )
        out: dict[tuple[str, float], dict[str, Any]] = {}
        for _aid, fp, starts_at, status, ends_at, labels, notes, source in rows:
            key = (fp, starts_at)
            if key not in wanted:
                continue
            ep = out.get(key)
            if ep is None:
                lab = mapping(labels)
                ep = out[key] = {
                    "id": incident_id(fp, starts_at),
                    "fingerprint": fp,
                    "source": source,
                    "alertname": lab.get("alertname", ""),
                    "severity": lab.get("severity", ""),
                    "labels": lab,
                    "annotations": mapping(notes),
                    "starts_at": iso(starts_at),
                    "ends_at": None,
                    "status": "firing",
                    "alerts": 0,
                }
            ep["alerts"] += 1
            if status == "resolved":
                ep["status"] = "resolved"
                ep["ends_at"] = iso(ends_at) if ends_at is not None else ep["ends_at"]
        return out

    async def incident_timeline(self, incident: str) -> dict[str, Any] | None:
        """One episode, its alerts (firing, resolved), decisions, executions and escalations, in time order.

        Escalations are not linked to alerts in the journal: those of the episode's executions count,
        and those for the same rule and target from the episode's start until an hour after its last
        event (the resolve that closes a page comes after the alert resolved).
        """
        parsed = split_incident_id(incident)
        if parsed is None:
            return None
        alerts = await self._episode_alerts(*parsed)
        if not alerts:
            return None
        first_alert = alerts[0]
        ep = (await self._episodes([(first_alert[2], first_alert[4])]))[(first_alert[2], first_alert[4])]
        ep["generator_url"] = next((r[8] for r in alerts if r[8]), "")  # evidence: the source's graph
        alert_ids = [r[0] for r in alerts]
        events = _alert_events(alerts)
        decisions, pairs = await self._decision_events(alert_ids)
        executions, execution_ids = await self._execution_events(alert_ids)
        events += decisions + executions
        first = min(e[0] for e in events)
        last = max(e[0] for e in events)
        events += await self._escalation_events(first, last, execution_ids=execution_ids, pairs=pairs)
        events += await self._evidence_events(*parsed)
        events.sort(key=lambda e: (e[0], e[1]))
        ep["events"] = [e[2] for e in events]
        ep["first_event_at"] = iso(first)
        ep["last_event_at"] = iso(last)
        return ep

    async def _evidence_events(self, fingerprint: str, seconds: int) -> list[_Event]:
        """What the cluster showed before and after each of the episode's actions (pods, events, logs)."""
        rows = await self._reads.execute_fetchall(
            "SELECT id, at, execution_id, target, moment, body FROM evidence"
            " WHERE fingerprint = ? AND starts_at >= ? AND starts_at < ? ORDER BY id",
            (fingerprint, seconds, seconds + 1),
        )
        events: list[_Event] = []
        for eid, at, execution_id, target, moment, body in rows:
            event = {
                "type": "evidence",
                "at": iso(at),
                "evidence_id": eid,
                "execution_id": execution_id,
                "target": target,
                "moment": moment,
                "evidence": json.loads(body),
            }
            events.append((at, 4, event))
        return events

    async def _episode_alerts(self, fingerprint: str, seconds: int) -> list[Sequence[Any]]:
        """The alert rows of one episode (fingerprint, startsAt second), with when each payload arrived."""
        return list(
            await self._reads.execute_fetchall(
                "SELECT a.id, a.source, a.fingerprint, a.status, a.starts_at, a.ends_at, a.labels,"
                " a.annotations, a.generator_url, p.received_at"
                " FROM alerts a LEFT JOIN payloads p ON p.id = a.payload_id"
                " WHERE a.fingerprint = ? AND a.starts_at >= ? AND a.starts_at < ? ORDER BY a.id",
                (fingerprint, seconds, seconds + 1),
            )
        )

    async def _decision_events(self, alert_ids: Sequence[int]) -> tuple[list[_Event], set[tuple[str, str]]]:
        """The decisions on the episode's alerts, and the (rule, target) pairs they named."""
        marks = ",".join("?" * len(alert_ids))
        rows = await self._reads.execute_fetchall(
            "SELECT id, alert_id, rule, target, actions, outcome, reason, dry_run, decided_at FROM decisions"
            f" WHERE alert_id IN ({marks}) ORDER BY id",
            list(alert_ids),
        )
        events: list[_Event] = []
        pairs: set[tuple[str, str]] = set()
        for did, aid, rule, target, actions, outcome, reason, dry_run, decided_at in rows:
            if target:
                pairs.add((rule, target))
            event = {
                "type": "decision",
                "at": iso(decided_at),
                "decision_id": did,
                "alert_id": aid,
                "rule": rule,
                "target": target,
                "actions": actions.split("+") if actions else [],
                "outcome": outcome,
                "reason": reason,
                "dry_run": bool(dry_run),
            }
            events.append((decided_at, 1, event))
        return events, pairs

    async def _execution_events(self, alert_ids: Sequence[int]) -> tuple[list[_Event], list[int]]:
        """The executions on the episode's alerts, each at its end (else its start, else its creation)."""
        marks = ",".join("?" * len(alert_ids))
        rows = list(
            await self._reads.execute_fetchall(
                "SELECT id, decision_id, rule, target, actions, dry_run, status, attempts, error, changes,"
                " summary, created_at, started_at, finished_at FROM executions"
                f" WHERE alert_id IN ({marks}) ORDER BY id",
                list(alert_ids),
            )
        )
        who = await self._who(r[0] for r in rows)
        events: list[_Event] = []
        for (
            eid,
            did,
            rule,
            target,
            actions,
            dry_run,
            status,
            attempts,
            error,
            changes,
            summary,
            c,
            s,
            f,
        ) in rows:
            at = f if f is not None else (s if s is not None else c)
            event = {
                "type": "execution",
                "at": iso(at),
                "execution_id": eid,
                "decision_id": did,
                "rule": rule,
                "target": target,
                "actions": actions.split("+") if actions else [],
                "dry_run": bool(dry_run),
                "status": status,
                "attempts": attempts,
                "error": error,
                "summary": summary,
                "changes": listing(changes),
                "started_at": iso(s),
                "finished_at": iso(f),
                "who": who.get(eid, ("remediator", "alert"))[0],
            }
            events.append((at, 2, event))
        return events, [r[0] for r in rows]

    async def _escalation_events(
        self,
        first: float,
        last: float,
        *,
        execution_ids: Sequence[int],
        pairs: set[tuple[str, str]],
    ) -> list[_Event]:
        """Escalations of the episode's executions, or for its (rule, target) pairs, from its first event
        until an hour after its last."""
        rows = await self._reads.execute_fetchall(
            "SELECT id, at, rule, target, dest, kind, status, attempts, error, execution_id, summary"
            " FROM escalations WHERE at >= ? AND at <= ? ORDER BY id",
            (first, last + 3600),
        )
        events: list[_Event] = []
        for xid, at, rule, target, dest, kind, status, attempts, error, execution_id, summary in rows:
            if execution_id not in execution_ids and (rule, target) not in pairs:
                continue
            event = {
                "type": "escalation",
                "at": iso(at),
                "escalation_id": xid,
                "rule": rule,
                "target": target,
                "dest": dest,
                "kind": kind,
                "status": status,
                "attempts": attempts,
                "error": error,
                "execution_id": execution_id,
                "summary": summary,
            }
            events.append((at, 3, event))
        return events
