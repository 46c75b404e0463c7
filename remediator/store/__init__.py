"""The journal: the single source of truth for alerts, decisions and executions.

Every accepted webhook payload is written here before the webhook answers 2xx;
guards derive their state from it, so it survives restarts. `Journal` is the
interface; `sqlite.SqliteJournal` the embedded implementation (PostgreSQL can
implement the same protocol later for several replicas).
"""

from remediator.store.protocol import (
    ExecutionRecord,
    ExecutionUpdate,
    Journal,
    JournalOverloaded,
    JournalUnavailable,
    RecordedBatch,
    StoredPayload,
)

__all__ = [
    "ExecutionRecord",
    "ExecutionUpdate",
    "Journal",
    "JournalOverloaded",
    "JournalUnavailable",
    "RecordedBatch",
    "StoredPayload",
]
