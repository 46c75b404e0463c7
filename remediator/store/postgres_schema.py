"""The PostgreSQL journal's schema, as numbered steps (see `migrations.py` for the rule).

The same tables and columns as SQLite's (schema version 6), so the read model's SQL runs on both and
rows read back the same way (times as Unix seconds, flags as 0/1, labels and diffs as JSON text),
plus what several replicas need:

* `replicas`: one row per running daemon with a lease renewed by its heartbeat; a replica whose
  lease has expired is dead, and another takes over its unfinished executions;
* `executions.owner`: the replica that runs it; `executions.finish_seq`: the order in which
  executions ended, so each replica's guards catch up with results written by the others.

Migrations run under an advisory lock: replicas starting together migrate once.
"""

from __future__ import annotations

import asyncpg

from remediator.store.migrations import Step, latest_version, pending_steps

MIGRATION_LOCK = 0x72656D6D  # pg_advisory_xact_lock key while migrating ("remm")

V1 = (
    "CREATE TABLE schema_version ("
    " version integer PRIMARY KEY, applied_at double precision NOT NULL, description text NOT NULL)",
    "CREATE TABLE payloads ("
    " id bigserial PRIMARY KEY, source text NOT NULL, received_at double precision NOT NULL,"
    " body bytea NOT NULL, processed_at double precision)",
    "CREATE INDEX payloads_pending ON payloads(id) WHERE processed_at IS NULL",
    "CREATE TABLE alerts ("
    " id bigserial PRIMARY KEY, payload_id bigint, source text NOT NULL, fingerprint text NOT NULL,"
    " status text NOT NULL, starts_at double precision NOT NULL, ends_at double precision,"
    " labels text NOT NULL, annotations text NOT NULL, generator_url text NOT NULL)",
    "CREATE INDEX alerts_fingerprint ON alerts(fingerprint, starts_at)",
    "CREATE TABLE decisions ("
    " id bigserial PRIMARY KEY, alert_id bigint, rule text NOT NULL, target text, actions text NOT NULL,"
    " outcome text NOT NULL, reason text NOT NULL, dry_run smallint NOT NULL,"
    " decided_at double precision NOT NULL)",
    "CREATE INDEX decisions_rule_target ON decisions(rule, target, decided_at)",
    "CREATE INDEX decisions_alert ON decisions(alert_id)",
    "CREATE TABLE executions ("
    " id bigserial PRIMARY KEY, decision_id bigint NOT NULL, alert_id bigint, rule text NOT NULL,"
    " target text NOT NULL, actions text NOT NULL, dry_run smallint NOT NULL, status text NOT NULL,"
    " attempts integer NOT NULL DEFAULT 0, error text, changes text NOT NULL DEFAULT '[]',"
    " summary text NOT NULL DEFAULT '', created_at double precision NOT NULL,"
    " started_at double precision, finished_at double precision,"
    " owner text NOT NULL, finish_seq bigint)",
    "CREATE INDEX executions_unfinished ON executions(owner) WHERE status IN ('pending', 'running')",
    "CREATE INDEX executions_status ON executions(status)",
    "CREATE INDEX executions_created ON executions(created_at)",
    "CREATE INDEX executions_finished ON executions(finished_at)",
    "CREATE INDEX executions_finish_seq ON executions(finish_seq) WHERE finish_seq IS NOT NULL",
    "CREATE SEQUENCE execution_finish_seq",
    "CREATE TABLE approvals ("
    " id bigserial PRIMARY KEY, decision_id bigint NOT NULL, alert_id bigint, rule text NOT NULL,"
    " target text NOT NULL, status text NOT NULL, created_at double precision NOT NULL,"
    " expires_at double precision NOT NULL, decided_by text, decided_at double precision, note text)",
    "CREATE INDEX approvals_status ON approvals(status)",
    "CREATE TABLE escalations ("
    " id bigserial PRIMARY KEY, at double precision NOT NULL, rule text NOT NULL, target text NOT NULL,"
    " dest text NOT NULL, kind text NOT NULL, dedup_key text NOT NULL, status text NOT NULL,"
    " attempts integer NOT NULL, error text, execution_id bigint, summary text NOT NULL)",
    "CREATE INDEX escalations_at ON escalations(at)",
    "CREATE TABLE audit ("
    " id bigserial PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL, action text NOT NULL,"
    " detail text NOT NULL,"
    " execution_id bigint GENERATED ALWAYS AS ((detail::jsonb ->> 'execution_id')::bigint) STORED)",
    "CREATE INDEX audit_execution ON audit(execution_id) WHERE execution_id IS NOT NULL",
    "CREATE TABLE timers ("
    " id bigserial PRIMARY KEY, kind text NOT NULL, key text NOT NULL, due_at double precision NOT NULL,"
    " payload text NOT NULL, created_at double precision NOT NULL, attempts integer NOT NULL DEFAULT 0,"
    " claimed_by text, claimed_until double precision, done_at double precision, result text)",
    "CREATE UNIQUE INDEX timers_pending_key ON timers(kind, key) WHERE done_at IS NULL",
    "CREATE INDEX timers_pending_due ON timers(due_at) WHERE done_at IS NULL",
    "CREATE TABLE deferrals ("
    " id bigserial PRIMARY KEY, decision_id bigint NOT NULL, alert_id bigint, rule text NOT NULL,"
    " target text NOT NULL, fingerprint text NOT NULL, starts_at double precision NOT NULL,"
    " severity text NOT NULL, rank integer NOT NULL, reason text NOT NULL, skip_guards text NOT NULL,"
    " created_at double precision NOT NULL, attempts integer NOT NULL DEFAULT 0,"
    " last_at double precision, status text NOT NULL, done_at double precision, result text,"
    " decision bigint, claimed_by text, claimed_until double precision)",
    "CREATE INDEX deferrals_waiting ON deferrals(rank, created_at, id) WHERE status = 'waiting'",
    "CREATE INDEX deferrals_fingerprint ON deferrals(fingerprint) WHERE status = 'waiting'",
    "CREATE TABLE controls ("
    " kind text NOT NULL, key text NOT NULL, value text NOT NULL, actor text NOT NULL,"
    " at double precision NOT NULL, PRIMARY KEY (kind, key))",
    "CREATE TABLE deliveries (id text PRIMARY KEY, at double precision NOT NULL)",
    "CREATE INDEX deliveries_at ON deliveries(at)",
    "CREATE TABLE replicas ("
    " id text PRIMARY KEY, host text NOT NULL, started_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " lease_until timestamptz NOT NULL)",
)

V2 = (
    "CREATE TABLE open_escalations ("
    " dedup_key text PRIMARY KEY, rule text NOT NULL, target text NOT NULL, fingerprint text NOT NULL,"
    " pagerduty integer NOT NULL, opened_at double precision NOT NULL, alert_id bigint)",
)

V3 = (
    "CREATE TABLE evidence ("
    " id bigserial PRIMARY KEY, at double precision NOT NULL, fingerprint text NOT NULL,"
    " starts_at double precision NOT NULL, execution_id bigint, target text NOT NULL, moment text NOT NULL,"
    " body text NOT NULL)",
    "CREATE INDEX evidence_episode ON evidence(fingerprint, starts_at)",
)

V4 = (
    "CREATE TABLE incidents ("
    " id text PRIMARY KEY, key text NOT NULL, state text NOT NULL, severity text NOT NULL,"
    " opened_at double precision NOT NULL, updated_at double precision NOT NULL, doc text NOT NULL)",
    "CREATE UNIQUE INDEX incidents_live_key ON incidents(key) WHERE state != 'resolved'",
    "CREATE INDEX incidents_opened ON incidents(opened_at)",
    "CREATE TABLE incident_events ("
    " id bigserial PRIMARY KEY, incident_id text NOT NULL, at double precision NOT NULL, kind text NOT NULL,"
    " text text NOT NULL, detail text NOT NULL)",
    "CREATE INDEX incident_events_incident ON incident_events(incident_id, id)",
    "CREATE TABLE incident_alerts (alert_id bigint PRIMARY KEY, incident_id text NOT NULL)",
    "CREATE INDEX incident_alerts_incident ON incident_alerts(incident_id)",
)

V5 = (
    "CREATE TABLE own_revisions ("
    " id bigserial PRIMARY KEY, made_at double precision NOT NULL, target text NOT NULL,"
    " template text NOT NULL, kind text NOT NULL, action text NOT NULL, summary text NOT NULL,"
    " execution_id bigint)",
    "CREATE INDEX own_revisions_target ON own_revisions(target, id)",
)

STEPS = (
    Step(version=1, description="the journal, with replicas and execution ownership", statements=V1),
    Step(version=2, description="escalations open until their alert resolves", statements=V2),
    Step(version=3, description="evidence captured from the cluster for the postmortem", statements=V3),
    Step(version=4, description="incidents: state, ladder, timeline, alerts", statements=V4),
    Step(version=5, description="pod-template revisions remediator made itself", statements=V5),
    Step(
        version=6,
        description="console login sessions (a digest of each session token, never the token)",
        statements=(
            "CREATE TABLE console_sessions (digest text PRIMARY KEY, name text NOT NULL, scope text NOT NULL,"
            " created_at double precision NOT NULL, last_seen double precision NOT NULL)",
        ),
    ),
)
LATEST = latest_version(STEPS)


async def current_version(conn: asyncpg.Connection) -> int:
    if await conn.fetchval("SELECT to_regclass('schema_version') IS NULL"):
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def migrate(conn: asyncpg.Connection, *, where: str, now: float) -> list[int]:
    """Bring the database to the latest schema in one transaction; the versions applied, oldest first."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        steps = pending_steps(current=await current_version(conn), steps=STEPS, where=where)
        for step in steps:
            for statement in step.statements:
                await conn.execute(statement)
        await conn.executemany(
            "INSERT INTO schema_version(version, applied_at, description) VALUES ($1, $2, $3)",
            [(s.version, now, s.description) for s in steps],
        )
    return [s.version for s in steps]
