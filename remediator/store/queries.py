"""The journal's read model: the audit trail of executions, approvals, audit entries, counts.

The journal's pipeline methods serve the pipeline (what guards and recovery need); these serve
humans, who filter, page and read (the `ReadModel` protocol, with incidents in `incident_queries.py`).
Every back-end runs the same SQL (written in the dialect SQLite and PostgreSQL share, `?` for
parameters) through its `Reader`: SQLite's read-only connection (WAL lets it read while the writer
commits, never behind the group commit), PostgreSQL's pool. Shapes and paging follow `readmodel.py`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from remediator.model import AlertId, DecisionId, ExecutionId, ExecutionStatus, Outcome, PayloadId, Source
from remediator.store.readmodel import (
    MAX_ID,
    Page,
    approval_json,
    incident_id,
    iso,
    listing,
    mapping,
    parse_cursor,
)
from remediator.store.records import ExecutionRecord, StoredPayload

# Audit actions that put a human's name on an execution (the execution id is in their detail,
# and in the `execution_id` column every back-end derives from it).
_ACTING_AUDIT = ("trigger", "approve")

_REPLAY_CHUNK = 1000

COUNTABLE = frozenset(
    {
        "payloads",
        "alerts",
        "decisions",
        "executions",
        "audit",
        "approvals",
        "escalations",
        "timers",
        "deferrals",
    }
)
"""The tables `count` answers for (tests, status, the CLI)."""


class Reader(Protocol):
    """Runs one read: SQL with `?` parameters, all rows back (aiosqlite's connection is one)."""

    def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> Awaitable[Iterable[Any]]: ...


def _target_filter(target: str, column: str = "e.target") -> tuple[str, list[Any]]:
    """`ns/Kind/name` matches exactly; `ns/name` matches that name in any kind (what on-call types)."""
    parts = target.split("/")
    if len(parts) == 2:
        ns, name = (_like_escape(p) for p in parts)
        like = f"{column} LIKE ? ESCAPE '\\'"
        return f"({like} AND {like})", [f"{ns}/%", f"%/{name}"]
    return f"{column} = ?", [target]


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_EXECUTION_COLUMNS = (
    "SELECT e.id, e.decision_id, e.alert_id, e.rule, e.target, e.actions, e.dry_run, e.status, e.attempts,"
    " e.error, e.changes, e.summary, e.created_at, e.started_at, e.finished_at,"
    " d.outcome, d.reason, d.decided_at,"
    " a.source, a.fingerprint, a.status, a.starts_at, a.ends_at, a.labels, a.annotations, a.generator_url"
    " FROM executions e JOIN decisions d ON d.id = e.decision_id LEFT JOIN alerts a ON a.id = e.alert_id"
)


def _execution(r: Sequence[Any], who: dict[int, tuple[str, str]]) -> dict[str, Any]:
    alert = None
    if r[18] is not None:
        alert = {
            "id": r[2],
            "source": r[18],
            "fingerprint": r[19],
            "status": r[20],
            "starts_at": iso(r[21]),
            "ends_at": iso(r[22]),
            "labels": mapping(r[23]),
            "annotations": mapping(r[24]),
            "generator_url": r[25],
            "incident": incident_id(r[19], r[21]),
        }
    by, via = who.get(r[0], ("remediator", "alert"))
    return {
        "id": r[0],
        "decision_id": r[1],
        "rule": r[3],
        "target": r[4],
        "actions": r[5].split("+") if r[5] else [],
        "dry_run": bool(r[6]),
        "status": r[7],
        "attempts": r[8],
        "error": r[9],
        "changes": listing(r[10]),
        "summary": r[11],
        "created_at": iso(r[12]),
        "started_at": iso(r[13]),
        "finished_at": iso(r[14]),
        "decision": {"outcome": r[15], "reason": r[16], "decided_at": iso(r[17])},
        "who": by,
        "via": via,
        "alert": alert,
    }


def _audit(r: Sequence[Any]) -> dict[str, Any]:
    return {"id": r[0], "at": iso(r[1]), "actor": r[2], "action": r[3], "detail": mapping(r[4])}


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class ReadQueries:
    """The read model on any back-end: a mixin needing a `Reader` (`_reads`) and the journal's approvals."""

    @property
    def _reads(self) -> Reader:
        raise NotImplementedError  # each back-end's own

    async def approvals(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        raise NotImplementedError  # the journal's oversight records (placed before this in its bases)

    async def ping(self) -> None:
        await self._reads.execute_fetchall("SELECT COUNT(*) FROM (SELECT 1 FROM payloads LIMIT 1) AS p")

    async def processed_payloads(self, source: Source, since: datetime) -> list[StoredPayload]:
        """Walked back from the newest payload a chunk at a time (no index on `received_at`: the table
        holds every payload ever accepted) until a whole chunk was received before `since`."""
        ids: list[int] = []
        below: int | None = None
        while True:
            where, params = ("WHERE id < ? ", [below]) if below is not None else ("", [])
            chunk = list(
                await self._reads.execute_fetchall(
                    "SELECT id, source, received_at, processed_at FROM payloads "
                    f"{where}ORDER BY id DESC LIMIT ?",
                    [*params, _REPLAY_CHUNK],
                )
            )
            ids += [r[0] for r in chunk if r[1] == source and r[2] >= since.timestamp() and r[3] is not None]
            if len(chunk) < _REPLAY_CHUNK or max(r[2] for r in chunk) < since.timestamp():
                break
            below = chunk[-1][0]
        payloads: list[StoredPayload] = []
        for start in range(0, len(ids), _REPLAY_CHUNK):
            part = sorted(ids[start : start + _REPLAY_CHUNK])
            rows = await self._reads.execute_fetchall(
                "SELECT id, received_at, body FROM payloads"
                f" WHERE id IN ({', '.join('?' * len(part))}) ORDER BY id",
                part,
            )
            payloads += [
                StoredPayload(
                    id=PayloadId(r[0]),
                    source=source,
                    received_at=datetime.fromtimestamp(r[1], UTC),
                    body=bytes(r[2]),
                )
                for r in rows
            ]
        return sorted(payloads, key=lambda p: p.id)

    async def _who(self, execution_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """Execution id -> (actor, how) for executions a human started (manual trigger or approval)."""
        ids = list(execution_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self._reads.execute_fetchall(
            "SELECT execution_id, actor, action FROM audit"
            f" WHERE action IN (?, ?) AND execution_id IN ({marks}) ORDER BY id",
            (*_ACTING_AUDIT, *ids),
        )
        out: dict[int, tuple[str, str]] = {}
        for eid, actor, action in rows:
            out.setdefault(int(eid), (actor, "trigger" if action == "trigger" else "approval"))
        return out

    async def list_executions(
        self,
        *,
        rule: str | None = None,
        target: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """The audit trail of executions, newest first: alert, decision and reason, diff, attempts, who."""
        where: list[str] = ["e.id < ?"]
        args: list[Any] = [parse_cursor(cursor)]
        if rule is not None:
            where.append("e.rule = ?")
            args.append(rule)
        if target is not None:
            sql, values = _target_filter(target)
            where.append(sql)
            args.extend(values)
        if status is not None:
            where.append("e.status = ?")
            args.append(status)
        if since is not None:
            where.append("e.created_at >= ?")
            args.append(since.timestamp())
        rows = list(
            await self._reads.execute_fetchall(
                _EXECUTION_COLUMNS + " WHERE " + " AND ".join(where) + " ORDER BY e.id DESC LIMIT ?",
                (*args, limit + 1),
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        who = await self._who(r[0] for r in rows)
        return Page(items=[_execution(r, who) for r in rows], next=str(rows[-1][0]) if more else None)

    async def get_execution(self, execution_id: int) -> dict[str, Any] | None:
        """One execution with its alert, decision, diff and the audit entries that name it."""
        if not 0 < execution_id <= MAX_ID:
            return None
        rows = list(
            await self._reads.execute_fetchall(_EXECUTION_COLUMNS + " WHERE e.id = ?", (execution_id,))
        )
        if not rows:
            return None
        out = _execution(rows[0], await self._who([execution_id]))
        audit = await self._reads.execute_fetchall(
            "SELECT id, at, actor, action, detail FROM audit WHERE execution_id = ? ORDER BY id",
            (execution_id,),
        )
        out["audit"] = [_audit(r) for r in audit]
        return out

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Every change made by a human through the API (and SIGHUP reloads), newest first."""
        where: list[str] = ["id < ?"]
        args: list[Any] = [parse_cursor(cursor)]
        for column, value in (("actor", actor), ("action", action)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        rows = list(
            await self._reads.execute_fetchall(
                "SELECT id, at, actor, action, detail FROM audit WHERE "
                + " AND ".join(where)
                + " ORDER BY id DESC LIMIT ?",
                (*args, limit + 1),
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=[_audit(r) for r in rows], next=str(rows[-1][0]) if more else None)

    async def list_approvals(self, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Approvals (pending ones expire on read), with times as RFC 3339."""
        return [approval_json(a) for a in await self.approvals(status=status, limit=limit)]

    async def executions(
        self,
        *,
        rule: str | None = None,
        target: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[ExecutionRecord]:
        where, args = [], []
        for column, value in (("e.rule", rule), ("e.target", target), ("e.status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT e.id, e.decision_id, e.alert_id, e.rule, e.target, e.actions, e.dry_run, e.status,"
            " e.attempts, e.error, e.changes, e.summary, d.reason, e.created_at, e.started_at, e.finished_at"
            " FROM executions e JOIN decisions d ON d.id = e.decision_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY e.id DESC LIMIT ?"
        )
        rows = await self._reads.execute_fetchall(sql, (*args, limit))
        return [
            ExecutionRecord(
                id=ExecutionId(r[0]),
                decision_id=DecisionId(r[1]),
                alert_id=AlertId(r[2]) if r[2] else None,
                rule=r[3],
                target=r[4],
                actions=r[5],
                dry_run=bool(r[6]),
                status=ExecutionStatus(r[7]),
                attempts=r[8],
                error=r[9],
                changes=json.loads(r[10]),
                summary=r[11],
                reason=r[12],
                created_at=datetime.fromtimestamp(r[13], UTC),
                started_at=_dt(r[14]),
                finished_at=_dt(r[15]),
            )
            for r in rows
        ]

    async def list_decisions(
        self,
        *,
        rule: str | None = None,
        outcome: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Decisions newest first, acting or not, with their alert's incident and execution (if any)."""
        where: list[str] = ["d.id < ?"]
        args: list[Any] = [parse_cursor(cursor)]
        for column, value in (("d.rule", rule), ("d.outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if target is not None:
            sql, values = _target_filter(target, "d.target")
            where.append(sql)
            args.extend(values)
        if since is not None:
            where.append("d.decided_at >= ?")
            args.append(since.timestamp())
        rows = list(
            await self._reads.execute_fetchall(
                "SELECT d.id, d.alert_id, d.rule, d.target, d.actions, d.outcome, d.reason, d.dry_run,"
                " d.decided_at, a.fingerprint, a.starts_at, a.labels, e.id, e.status FROM decisions d"
                " LEFT JOIN alerts a ON a.id = d.alert_id LEFT JOIN executions e ON e.decision_id = d.id"
                " WHERE " + " AND ".join(where) + " ORDER BY d.id DESC LIMIT ?",
                (*args, limit + 1),
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        items = []
        for r in rows:
            labels = json.loads(r[11]) if r[11] is not None else {}
            items.append(
                {
                    "id": r[0],
                    "alert_id": r[1],
                    "rule": r[2],
                    "target": r[3],
                    "actions": r[4].split("+") if r[4] else [],
                    "outcome": r[5],
                    "reason": r[6],
                    "dry_run": bool(r[7]),
                    "decided_at": iso(r[8]),
                    "incident": incident_id(r[9], r[10]) if r[9] is not None else None,
                    "alertname": labels.get("alertname", ""),
                    "severity": labels.get("severity", ""),
                    "execution": {"id": r[12], "status": r[13]} if r[12] is not None else None,
                }
            )
        return Page(items=items, next=str(rows[-1][0]) if more else None)

    async def decisions(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._reads.execute_fetchall(
            "SELECT id, alert_id, rule, target, actions, outcome, reason, dry_run, decided_at FROM decisions"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        keys = ("id", "alert_id", "rule", "target", "actions", "outcome", "reason", "dry_run", "decided_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def decision_counts(self) -> dict[str, int]:
        rows = await self._reads.execute_fetchall("SELECT outcome, COUNT(*) FROM decisions GROUP BY outcome")
        return {Outcome(r[0]).value: int(r[1]) for r in rows}

    async def count(self, table: str) -> int:
        if table not in COUNTABLE:
            raise ValueError(f"unknown journal table {table!r}")
        rows = await self._reads.execute_fetchall(f"SELECT COUNT(*) FROM {table}")
        return int(next(iter(rows))[0])

    async def escalations(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._reads.execute_fetchall(
            "SELECT id, at, rule, target, dest, kind, dedup_key, status, attempts, error, execution_id,"
            " summary"
            " FROM escalations ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        keys = (
            "id",
            "at",
            "rule",
            "target",
            "dest",
            "kind",
            "dedup_key",
            "status",
            "attempts",
            "error",
            "execution_id",
            "summary",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def audit(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._reads.execute_fetchall(
            "SELECT id, at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [
            {
                "id": r[0],
                "at": datetime.fromtimestamp(r[1], UTC).isoformat(),
                "actor": r[2],
                "action": r[3],
                "detail": json.loads(r[4]),
            }
            for r in rows
        ]
