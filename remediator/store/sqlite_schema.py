"""The SQLite journal's schema, as numbered steps (see `migrations.py` for the rule).

Version 1 is the schema of the releases before versioning (no `schema_version` table), kept
verbatim: a journal file from those releases is recognised by its tables and migrated from there.
"""

from __future__ import annotations

import sqlite3

from remediator.store.migrations import Step, latest_version, pending_steps

V1 = (
    "CREATE TABLE IF NOT EXISTS payloads ("
    " id INTEGER PRIMARY KEY, source TEXT NOT NULL, received_at REAL NOT NULL,"
    " body BLOB NOT NULL, processed_at REAL)",
    "CREATE INDEX IF NOT EXISTS payloads_pending ON payloads(id) WHERE processed_at IS NULL",
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id INTEGER PRIMARY KEY, payload_id INTEGER, source TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " status TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL, labels TEXT NOT NULL,"
    " annotations TEXT NOT NULL, generator_url TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts(fingerprint, starts_at)",
    "CREATE TABLE IF NOT EXISTS decisions ("
    " id INTEGER PRIMARY KEY, alert_id INTEGER, rule TEXT NOT NULL, target TEXT, actions TEXT NOT NULL,"
    " outcome TEXT NOT NULL, reason TEXT NOT NULL, dry_run INTEGER NOT NULL, decided_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS decisions_rule_target ON decisions(rule, target, decided_at)",
    "CREATE INDEX IF NOT EXISTS decisions_alert ON decisions(alert_id)",
    "CREATE TABLE IF NOT EXISTS executions ("
    " id INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL, alert_id INTEGER, rule TEXT NOT NULL,"
    " target TEXT NOT NULL, actions TEXT NOT NULL, dry_run INTEGER NOT NULL, status TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, error TEXT, changes TEXT NOT NULL DEFAULT '[]',"
    " summary TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, started_at REAL, finished_at REAL)",
    "CREATE INDEX IF NOT EXISTS executions_status ON executions(status)",
    "CREATE INDEX IF NOT EXISTS executions_created ON executions(created_at)",
    "CREATE TABLE IF NOT EXISTS approvals ("
    " id INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL, alert_id INTEGER, rule TEXT NOT NULL,"
    " target TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,"
    " decided_by TEXT, decided_at REAL, note TEXT)",
    "CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status)",
    "CREATE TABLE IF NOT EXISTS escalations ("
    " id INTEGER PRIMARY KEY, at REAL NOT NULL, rule TEXT NOT NULL, target TEXT NOT NULL, dest TEXT NOT NULL,"
    " kind TEXT NOT NULL, dedup_key TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " error TEXT, execution_id INTEGER, summary TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
    " detail TEXT NOT NULL)",
)

V3 = (
    "CREATE TABLE timers ("
    " id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, due_at REAL NOT NULL,"
    " payload TEXT NOT NULL, created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " claimed_by TEXT, claimed_until REAL, done_at REAL, result TEXT)",
    "CREATE UNIQUE INDEX timers_pending_key ON timers(kind, key) WHERE done_at IS NULL",
    "CREATE INDEX timers_pending_due ON timers(due_at) WHERE done_at IS NULL",
    "CREATE TABLE deferrals ("
    " id INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL, alert_id INTEGER, rule TEXT NOT NULL,"
    " target TEXT NOT NULL, fingerprint TEXT NOT NULL, starts_at REAL NOT NULL, severity TEXT NOT NULL,"
    " rank INTEGER NOT NULL, reason TEXT NOT NULL, skip_guards TEXT NOT NULL, created_at REAL NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, last_at REAL, status TEXT NOT NULL, done_at REAL, result TEXT,"
    " decision INTEGER, claimed_by TEXT, claimed_until REAL)",
    "CREATE INDEX deferrals_waiting ON deferrals(rank, created_at, id) WHERE status = 'waiting'",
    "CREATE INDEX deferrals_fingerprint ON deferrals(fingerprint) WHERE status = 'waiting'",
    "CREATE TABLE controls ("
    " kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, actor TEXT NOT NULL, at REAL NOT NULL,"
    " PRIMARY KEY (kind, key))",
    "CREATE TABLE deliveries (id TEXT PRIMARY KEY, at REAL NOT NULL)",
    "CREATE INDEX deliveries_at ON deliveries(at)",
)

V4 = (
    "CREATE TABLE open_escalations ("
    " dedup_key TEXT PRIMARY KEY, rule TEXT NOT NULL, target TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " pagerduty INTEGER NOT NULL, opened_at REAL NOT NULL, alert_id INTEGER)",
)

EVIDENCE = (
    "CREATE TABLE evidence ("
    " id INTEGER PRIMARY KEY, at REAL NOT NULL, fingerprint TEXT NOT NULL, starts_at REAL NOT NULL,"
    " execution_id INTEGER, target TEXT NOT NULL, moment TEXT NOT NULL, body TEXT NOT NULL)"
)
EVIDENCE_INDEX = "CREATE INDEX evidence_episode ON evidence(fingerprint, starts_at)"

OWN_REVISIONS = (
    "CREATE TABLE own_revisions ("
    " id INTEGER PRIMARY KEY, made_at REAL NOT NULL, target TEXT NOT NULL, template TEXT NOT NULL,"
    " kind TEXT NOT NULL, action TEXT NOT NULL, summary TEXT NOT NULL, execution_id INTEGER)",
    "CREATE INDEX own_revisions_target ON own_revisions(target, id)",
)

V6 = (
    "CREATE TABLE incidents ("
    " id TEXT PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL, severity TEXT NOT NULL,"
    " opened_at REAL NOT NULL, updated_at REAL NOT NULL, doc TEXT NOT NULL)",
    "CREATE UNIQUE INDEX incidents_live_key ON incidents(key) WHERE state != 'resolved'",
    "CREATE INDEX incidents_opened ON incidents(opened_at)",
    "CREATE TABLE incident_events ("
    " id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL,"
    " text TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE INDEX incident_events_incident ON incident_events(incident_id, id)",
    "CREATE TABLE incident_alerts (alert_id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL)",
    "CREATE INDEX incident_alerts_incident ON incident_alerts(incident_id)",
)

STEPS = (
    Step(version=1, description="alerts, decisions, executions, oversight records", statements=V1),
    Step(
        version=2,
        description="schema versions are recorded",
        statements=(
            "CREATE TABLE schema_version ("
            " version INTEGER PRIMARY KEY, applied_at REAL NOT NULL, description TEXT NOT NULL)",
        ),
    ),
    Step(
        version=3,
        description="timers, deferred decisions, human controls, webhook delivery ids",
        statements=V3,
    ),
    Step(
        version=4,
        description="audit entries name their execution in a column (the read model's SQL is portable)",
        statements=(
            "ALTER TABLE audit ADD COLUMN execution_id INTEGER"
            " AS (CAST(json_extract(detail, '$.execution_id') AS INTEGER)) VIRTUAL",
            "CREATE INDEX audit_execution ON audit(execution_id) WHERE execution_id IS NOT NULL",
        ),
    ),
    Step(version=5, description="escalations open until their alert resolves", statements=V4),
    Step(
        version=6,
        description="evidence captured from the cluster for the postmortem",
        statements=(EVIDENCE, EVIDENCE_INDEX),
    ),
    Step(version=7, description="incidents: state, ladder, timeline, alerts", statements=V6),
    Step(version=8, description="pod-template revisions remediator made itself", statements=OWN_REVISIONS),
    Step(
        version=9,
        description="console login sessions (a digest of each session token, never the token)",
        statements=(
            "CREATE TABLE console_sessions (digest TEXT PRIMARY KEY, name TEXT NOT NULL,"
            " scope TEXT NOT NULL, created_at REAL NOT NULL, last_seen REAL NOT NULL)",
        ),
    ),
)
LATEST = latest_version(STEPS)


def current_version(db: sqlite3.Connection) -> int:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    if "schema_version" in tables:
        row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0])
    return 1 if "payloads" in tables else 0


def migrate(db: sqlite3.Connection, *, where: str, now: float) -> list[int]:
    """Bring the file to the latest schema in one transaction; the versions applied, oldest first.
    Blocking: run in the writer's thread."""
    db.execute("BEGIN IMMEDIATE")  # no other process migrates the same file meanwhile
    try:
        steps = pending_steps(current=current_version(db), steps=STEPS, where=where)
        for step in steps:
            for statement in step.statements:
                db.execute(statement)
        if steps:
            db.executemany(
                "INSERT INTO schema_version(version, applied_at, description) VALUES (?, ?, ?)",
                [(s.version, now, s.description) for s in steps if s.version >= 2],
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return [s.version for s in steps]
