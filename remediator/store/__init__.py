"""The journal: the single source of truth for alerts, decisions and executions.

Every accepted webhook payload is written here before the webhook answers 2xx;
guards derive their state from it, so it survives restarts. `protocols` holds the
interfaces each consumer takes (`Intake`, `PipelineJournal`, `OversightJournal`,
`ReadModel`, and `Journal` for all of them), `records` the values that cross them and
`readmodel` the read side's shared vocabulary (pages, cursors, incident ids);
`sqlite.SqliteJournal` is the embedded implementation (one replica), `postgres.PostgresJournal` the
shared one (several replicas); only `app.py` names them.
"""

from remediator.store.protocols import (
    DecisionScope,
    Intake,
    Journal,
    OversightJournal,
    PipelineJournal,
    ReadModel,
)
from remediator.store.readmodel import Page
from remediator.store.records import (
    ActRecord,
    EndRecord,
    ExecutionRecord,
    ExecutionUpdate,
    GuardFeed,
    InterruptedExecution,
    JournalOverloaded,
    JournalUnavailable,
    OutcomeRecord,
    RecordedBatch,
    RunningRecord,
    StoredPayload,
)

__all__ = [
    "ActRecord",
    "DecisionScope",
    "EndRecord",
    "ExecutionRecord",
    "ExecutionUpdate",
    "GuardFeed",
    "Intake",
    "InterruptedExecution",
    "Journal",
    "JournalOverloaded",
    "JournalUnavailable",
    "OutcomeRecord",
    "OversightJournal",
    "Page",
    "PipelineJournal",
    "ReadModel",
    "RecordedBatch",
    "RunningRecord",
    "StoredPayload",
]
