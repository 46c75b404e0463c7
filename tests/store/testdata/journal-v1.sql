-- The journal schema of remediator 0.1.0 (before schema versions), verbatim.
CREATE TABLE IF NOT EXISTS payloads (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, received_at REAL NOT NULL,
    body BLOB NOT NULL, processed_at REAL
);
CREATE INDEX IF NOT EXISTS payloads_pending ON payloads(id) WHERE processed_at IS NULL;
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, payload_id INTEGER, source TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL, labels TEXT NOT NULL,
    annotations TEXT NOT NULL, generator_url TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts(fingerprint, starts_at);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY, alert_id INTEGER, rule TEXT NOT NULL, target TEXT, actions TEXT NOT NULL,
    outcome TEXT NOT NULL, reason TEXT NOT NULL, dry_run INTEGER NOT NULL, decided_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_rule_target ON decisions(rule, target, decided_at);
CREATE INDEX IF NOT EXISTS decisions_alert ON decisions(alert_id);
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL, alert_id INTEGER, rule TEXT NOT NULL,
    target TEXT NOT NULL, actions TEXT NOT NULL, dry_run INTEGER NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT, changes TEXT NOT NULL DEFAULT '[]',
    summary TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, started_at REAL, finished_at REAL
);
CREATE INDEX IF NOT EXISTS executions_status ON executions(status);
CREATE INDEX IF NOT EXISTS executions_created ON executions(created_at);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL, alert_id INTEGER, rule TEXT NOT NULL,
    target TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,
    decided_by TEXT, decided_at REAL, note TEXT
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status);
CREATE TABLE IF NOT EXISTS escalations (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, rule TEXT NOT NULL, target TEXT NOT NULL, dest TEXT NOT NULL,
    kind TEXT NOT NULL, dedup_key TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    error TEXT, execution_id INTEGER, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL
);
