"""Read queries for the override API: the audit trail, incidents and their timelines.

The journal's own methods serve the pipeline (what guards and recovery need); these serve
humans, who filter, page and read one incident end to end. They run on the journal's
read-only connection (`journal._r`): WAL lets them read while the writer commits, and they
never queue behind the group commit.

Pagination is keyset, newest first: a cursor is the last row's id as an opaque string, so a
page never shifts when new rows arrive while an on-call pages through. Times are returned as
RFC 3339 strings in UTC; JSON columns (labels, changes, audit details) are decoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from remediator.store.sqlite import SqliteJournal

MAX_ID = 2**63 - 1
"""SQLite's largest integer: a cursor or an id beyond it is no row, not an overflow."""

# Audit actions that put a human's name on an execution (the execution id is in their detail).
_ACTING_AUDIT = ("trigger", "approve")


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of rows, newest first, and the cursor of the next page (None: this was the last)."""

    items: list[dict[str, Any]]
    next: str | None


async def ping(journal: SqliteJournal) -> None:
    """A read that touches the database file: raises if the journal cannot be read."""
    await journal._r.execute_fetchall("SELECT COUNT(*) FROM (SELECT 1 FROM payloads LIMIT 1)")


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def parse_cursor(cursor: str | None) -> int:
    """The id to continue below. Raises ValueError for anything that is not a cursor we gave out."""
    if cursor is None or cursor == "":
        return MAX_ID
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19 or not 0 < int(cursor) <= MAX_ID:
        raise ValueError(f"cursor {cursor[:40]!r} is not a cursor this API gave out")
    return int(cursor)


def incident_id(fingerprint: str, starts_at: float) -> str:
    """Stable id of an alert episode: `<fingerprint>-<startsAt as unix seconds>`."""
    return f"{fingerprint}-{int(starts_at)}"


def split_incident_id(value: str) -> tuple[str, int] | None:
    fingerprint, sep, seconds = value.rpartition("-")
    if not sep or not fingerprint or not seconds.isascii() or not seconds.isdigit() or len(seconds) > 12:
        return None
    return fingerprint, int(seconds)


def _target_filter(target: str) -> tuple[str, list[Any]]:
    """`ns/Kind/name` matches exactly; `ns/name` matches that name in any kind (what on-call types)."""
    parts = target.split("/")
    if len(parts) == 2:
        ns, name = (_like_escape(p) for p in parts)
        return "(e.target LIKE ? ESCAPE '\\' AND e.target LIKE ? ESCAPE '\\')", [f"{ns}/%", f"%/{name}"]
    return "e.target = ?", [target]


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
            "labels": json.loads(r[23]),
            "annotations": json.loads(r[24]),
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
        "changes": json.loads(r[10]),
        "summary": r[11],
        "created_at": iso(r[12]),
        "started_at": iso(r[13]),
        "finished_at": iso(r[14]),
        "decision": {"outcome": r[15], "reason": r[16], "decided_at": iso(r[17])},
        "who": by,
        "via": via,
        "alert": alert,
    }


async def _who(journal: SqliteJournal, execution_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Execution id -> (actor, how) for executions a human started (manual trigger or approval)."""
    ids = list(execution_ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = await journal._r.execute_fetchall(
        "SELECT CAST(json_extract(detail, '$.execution_id') AS INTEGER), actor, action FROM audit"
        f" WHERE action IN (?, ?) AND json_extract(detail, '$.execution_id') IN ({marks}) ORDER BY id",
        (*_ACTING_AUDIT, *ids),
    )
    out: dict[int, tuple[str, str]] = {}
    for eid, actor, action in rows:
        out.setdefault(int(eid), (actor, "trigger" if action == "trigger" else "approval"))
    return out


async def list_executions(
    journal: SqliteJournal,
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
        await journal._r.execute_fetchall(
            _EXECUTION_COLUMNS + " WHERE " + " AND ".join(where) + " ORDER BY e.id DESC LIMIT ?",
            (*args, limit + 1),
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    who = await _who(journal, (r[0] for r in rows))
    return Page(items=[_execution(r, who) for r in rows], next=str(rows[-1][0]) if more else None)


async def get_execution(journal: SqliteJournal, execution_id: int) -> dict[str, Any] | None:
    """One execution with its alert, decision, diff and the audit entries that name it."""
    if not 0 < execution_id <= MAX_ID:
        return None
    rows = list(await journal._r.execute_fetchall(_EXECUTION_COLUMNS + " WHERE e.id = ?", (execution_id,)))
    if not rows:
        return None
    out = _execution(rows[0], await _who(journal, [execution_id]))
    audit = await journal._r.execute_fetchall(
        "SELECT id, at, actor, action, detail FROM audit WHERE json_extract(detail, '$.execution_id') = ?"
        " ORDER BY id",
        (execution_id,),
    )
    out["audit"] = [_audit(r) for r in audit]
    return out


def _audit(r: Sequence[Any]) -> dict[str, Any]:
    return {"id": r[0], "at": iso(r[1]), "actor": r[2], "action": r[3], "detail": json.loads(r[4])}


async def list_audit(
    journal: SqliteJournal,
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
        await journal._r.execute_fetchall(
            "SELECT id, at, actor, action, detail FROM audit WHERE "
            + " AND ".join(where)
            + " ORDER BY id DESC LIMIT ?",
            (*args, limit + 1),
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[_audit(r) for r in rows], next=str(rows[-1][0]) if more else None)


async def list_approvals(
    journal: SqliteJournal, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Approvals (pending ones expire on read), with times as RFC 3339."""
    rows = await journal.approvals(status=status, limit=limit)
    return [approval_json(a) for a in rows]


def approval_json(a: dict[str, Any]) -> dict[str, Any]:
    """A journal approval row with RFC 3339 times and the actions as a list."""
    out = dict(a)
    for key in ("created_at", "expires_at", "decided_at"):
        out[key] = iso(a[key])
    out["actions"] = a["actions"].split("+") if a.get("actions") else []
    return out


async def get_approval(journal: SqliteJournal, approval_id: int) -> dict[str, Any] | None:
    if not 0 < approval_id <= MAX_ID:
        return None
    a = await journal.get_approval(approval_id)
    return approval_json(a) if a is not None else None


# -- incidents -------------------------------------------------------------------------------------


async def list_incidents(
    journal: SqliteJournal,
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
        await journal._r.execute_fetchall(
            "SELECT a.id, a.fingerprint, a.starts_at FROM alerts a WHERE "
            + " AND ".join(where)
            + " AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.fingerprint = a.fingerprint"
            " AND b.starts_at = a.starts_at AND b.id < a.id) ORDER BY a.id DESC LIMIT ?",
            (*args, limit + 1),
        )
    )
    more = len(firsts) > limit
    firsts = firsts[:limit]
    episodes = await _episodes(journal, [(r[1], r[2]) for r in firsts])
    items = []
    for _, fingerprint, starts_at in firsts:
        ep = episodes[(fingerprint, starts_at)]
        if status is None or ep["status"] == status:
            items.append(ep)
    return Page(items=items, next=str(firsts[-1][0]) if more else None)


async def _episodes(
    journal: SqliteJournal, keys: Sequence[tuple[str, float]]
) -> dict[tuple[str, float], dict[str, Any]]:
    if not keys:
        return {}
    fingerprints = sorted({fp for fp, _ in keys})
    wanted = set(keys)
    marks = ",".join("?" * len(fingerprints))
    rows = await journal._r.execute_fetchall(
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
            lab = json.loads(labels)
            ep = out[key] = {
                "id": incident_id(fp, starts_at),
                "fingerprint": fp,
                "source": source,
                "alertname": lab.get("alertname", ""),
                "severity": lab.get("severity", ""),
                "labels": lab,
                "annotations": json.loads(notes),
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


_Event = tuple[float, int, dict[str, Any]]
"""(time, order among equal times: alert, decision, execution, escalation, the event)."""


async def incident_timeline(journal: SqliteJournal, incident: str) -> dict[str, Any] | None:
    """One episode, its alerts (firing, resolved), decisions, executions and escalations, in time order.

    Escalations are not linked to alerts in the journal: those of the episode's executions count,
    and those for the same rule and target from the episode's start until an hour after its last
    event (the resolve that closes a page comes after the alert resolved).
    """
    parsed = split_incident_id(incident)
    if parsed is None:
        return None
    alerts = await _episode_alerts(journal, *parsed)
    if not alerts:
        return None
    first_alert = alerts[0]
    ep = (await _episodes(journal, [(first_alert[2], first_alert[4])]))[(first_alert[2], first_alert[4])]
    alert_ids = [r[0] for r in alerts]
    events = _alert_events(alerts)
    decisions, pairs = await _decision_events(journal, alert_ids)
    executions, execution_ids = await _execution_events(journal, alert_ids)
    events += decisions + executions
    first = min(e[0] for e in events)
    last = max(e[0] for e in events)
    events += await _escalation_events(journal, first, last, execution_ids=execution_ids, pairs=pairs)
    events.sort(key=lambda e: (e[0], e[1]))
    ep["events"] = [e[2] for e in events]
    ep["first_event_at"] = iso(first)
    ep["last_event_at"] = iso(last)
    return ep


async def _episode_alerts(journal: SqliteJournal, fingerprint: str, seconds: int) -> list[Sequence[Any]]:
    """The alert rows of one episode (fingerprint, startsAt second), with when each payload arrived."""
    return list(
        await journal._r.execute_fetchall(
            "SELECT a.id, a.source, a.fingerprint, a.status, a.starts_at, a.ends_at, a.labels, a.annotations,"
            " a.generator_url, p.received_at FROM alerts a LEFT JOIN payloads p ON p.id = a.payload_id"
            " WHERE a.fingerprint = ? AND a.starts_at >= ? AND a.starts_at < ? ORDER BY a.id",
            (fingerprint, seconds, seconds + 1),
        )
    )


def _alert_events(alerts: Sequence[Sequence[Any]]) -> list[_Event]:
    """Each alert at the time its payload arrived (a resolved one at its end, firing at its start,
    when the payload is not in the journal)."""
    events: list[_Event] = []
    for aid, _src, _fp, status, starts_at, ends_at, _labels, notes, _url, received_at in alerts:
        at = received_at if received_at is not None else (ends_at if status == "resolved" else starts_at)
        ann = json.loads(notes)
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


async def _decision_events(
    journal: SqliteJournal, alert_ids: Sequence[int]
) -> tuple[list[_Event], set[tuple[str, str]]]:
    """The decisions on the episode's alerts, and the (rule, target) pairs they named."""
    marks = ",".join("?" * len(alert_ids))
    rows = await journal._r.execute_fetchall(
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


async def _execution_events(
    journal: SqliteJournal, alert_ids: Sequence[int]
) -> tuple[list[_Event], list[int]]:
    """The executions on the episode's alerts, each at its end (else its start, else its creation)."""
    marks = ",".join("?" * len(alert_ids))
    rows = list(
        await journal._r.execute_fetchall(
            "SELECT id, decision_id, rule, target, actions, dry_run, status, attempts, error, changes,"
            " summary, created_at, started_at, finished_at FROM executions"
            f" WHERE alert_id IN ({marks}) ORDER BY id",
            list(alert_ids),
        )
    )
    who = await _who(journal, (r[0] for r in rows))
    events: list[_Event] = []
    for eid, did, rule, target, actions, dry_run, status, attempts, error, changes, summary, c, s, f in rows:
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
            "changes": json.loads(changes),
            "started_at": iso(s),
            "finished_at": iso(f),
            "who": who.get(eid, ("remediator", "alert"))[0],
        }
        events.append((at, 2, event))
    return events, [r[0] for r in rows]


async def _escalation_events(
    journal: SqliteJournal,
    first: float,
    last: float,
    *,
    execution_ids: Sequence[int],
    pairs: set[tuple[str, str]],
) -> list[_Event]:
    """Escalations of the episode's executions, or for its (rule, target) pairs, from its first event
    until an hour after its last."""
    rows = await journal._r.execute_fetchall(
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
