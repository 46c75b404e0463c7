"""What every part of the API's description shares: the prefix, ids, scopes, statuses, times."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import WithJsonSchema

from remediator.model import ExecutionStatus, Outcome, WorkloadKind

__all__ = [
    "MAX_ID",
    "PREFIX",
    "ApprovalStatus",
    "BreakerState",
    "EventType",
    "ExecutionStatus",
    "IncidentStatus",
    "Outcome",
    "RunMode",
    "Scope",
    "Time",
    "TimelineFormat",
    "Via",
    "WorkloadKind",
]

PREFIX = "/api/v1"
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_ID = 2**63 - 1
"""The largest id the journal holds: a larger one is no row, not an overflow."""

Scope = Literal["read", "admin"]
BreakerState = Literal["closed", "half_open", "open"]
RunMode = Literal["running", "paused", "dry-run"]
Via = Literal["alert", "trigger", "approval"]
EventType = Literal["alert", "decision", "execution", "escalation", "evidence"]
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An RFC 3339 time in UTC, as the journal gives it."""


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class IncidentStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class TimelineFormat(enum.StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"
