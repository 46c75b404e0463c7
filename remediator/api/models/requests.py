"""What the override API takes: query and path values (parsed with the API's own messages) and bodies.

Requests are strict: an unknown key or query parameter is a typo, and a typo must not pass silently.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

from remediator.api.models.base import (
    DEFAULT_LIMIT,
    MAX_ID,
    MAX_LIMIT,
    ApprovalStatus,
    ExecutionStatus,
    IncidentStatus,
    TimelineFormat,
    WorkloadKind,
)
from remediator.durations import parse_duration
from remediator.receivers.times import LenientStorableTime, storable

# -- query and path values, parsed with the API's own messages ------------------------------------


def _one_of(key: str, kind: type[enum.StrEnum]) -> Callable[[object], object]:
    values = [v.value for v in kind]

    def check(value: object) -> object:
        if value not in values:
            raise ValueError(f"{key} must be one of {', '.join(values)}, not {str(value)[:40]!r}")
        return value

    return check


def _limit(value: object) -> object:
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {text[:40]!r}")
    return int(text)


def _since(value: object, info: ValidationInfo) -> object:
    """RFC 3339 time, or a duration meaning that long ago (`since=2h`)."""
    if isinstance(value, datetime):
        return value
    text = str(value)
    now: datetime = (info.context or {}).get("now") or datetime.now(UTC)
    try:
        return now - timedelta(seconds=parse_duration(text))
    except (ValueError, OverflowError):
        pass
    try:
        return storable(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(
            "since must be an RFC 3339 time (2026-11-23T10:00:00Z) between years 1 and 9999 in UTC, "
            f"or a duration (2h), not {text[:40]!r}"
        ) from None


def _cursor(value: object) -> object:
    """`next` from the previous page: a row id, as text. Anything else was not given out by this API."""
    text = str(value)
    if text and (not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= MAX_ID):
        raise ValueError(f"cursor {text[:40]!r} is not a cursor this API gave out")
    return text


def _positive_id(what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        text = str(value)
        if not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= MAX_ID:
            raise ValueError(f"{what} id must be a positive integer, not {text[:40]!r}")
        return int(text)

    return check


Limit = Annotated[
    int,
    BeforeValidator(_limit),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "description": f"page size (at most {MAX_LIMIT})",
        }
    ),
]
DURATION_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^[1-9][0-9]{0,3}(ms|s|m|h|d)$",
    "description": "a duration such as 30m or 2h (compound ones like 1h30m are accepted too)",
}
Since = Annotated[
    datetime,
    BeforeValidator(_since),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, DURATION_SCHEMA],
            "description": "RFC 3339 time (years 1 to 9999 in UTC), or a duration meaning that long ago",
        }
    ),
]
Cursor = Annotated[
    str,
    BeforeValidator(_cursor),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[1-9][0-9]{0,17}$",
            "description": "`next` from the previous page (opaque)",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoQuery(_Strict):
    """This endpoint takes no query parameter."""


class ExecutionsQuery(_Strict):
    rule: str | None = Field(default=None, description="rule name")
    target: str | None = Field(
        default=None, description="namespace/Kind/name, or namespace/name for any kind"
    )
    outcome: Annotated[ExecutionStatus, BeforeValidator(_one_of("outcome", ExecutionStatus))] | None = Field(
        default=None, description="execution status"
    )
    since: Since | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class ApprovalsQuery(_Strict):
    status: Annotated[ApprovalStatus, BeforeValidator(_one_of("status", ApprovalStatus))] | None = None
    limit: Limit = DEFAULT_LIMIT


class IncidentsQuery(_Strict):
    status: Annotated[IncidentStatus, BeforeValidator(_one_of("status", IncidentStatus))] | None = None
    since: Since | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class AuditQuery(_Strict):
    actor: str | None = Field(default=None, description="token name")
    action: str | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class TimelineQuery(_Strict):
    format: Annotated[TimelineFormat, BeforeValidator(_one_of("format", TimelineFormat))] = Field(
        default=TimelineFormat.JSON, description="json, or a postmortem draft in Markdown"
    )


Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class NoPath(_Strict):
    pass


class RulePath(_Strict):
    name: Annotated[
        str,
        WithJsonSchema(
            {"type": "string", "minLength": 1, "maxLength": 253, "description": "a loaded rule's name"}
        ),
    ]


_ID_SCHEMA = WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "numeric id"})


class ExecutionPath(_Strict):
    id: Annotated[int, BeforeValidator(_positive_id("execution")), _ID_SCHEMA]


class ApprovalPath(_Strict):
    id: Annotated[int, BeforeValidator(_positive_id("approval")), _ID_SCHEMA]


class BreakerPath(_Strict):
    key: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="rule:namespace/Kind/name, URL-encoded"
    )


class IncidentPath(_Strict):
    id: Annotated[str, StringConstraints(min_length=1)] = Field(description="incident id from the list")


# -- bodies ------------------------------------------------------------------------------------------

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OptionalReason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Labels = Annotated[
    # An empty name is allowed, as Alertmanager allows it (no matcher can name it): OpenAPI 3.0 cannot
    # say otherwise, and the document must describe exactly what is accepted.
    dict[Annotated[str, StringConstraints(max_length=256)], str],
    Field(max_length=64, description="label names of at most 256 characters"),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class PauseRequest(_Body):
    reason: Reason = Field(description="why (shown in status, decisions and the audit)")
    rule: Name | None = Field(default=None, description="pause this rule only")
    for_: Annotated[str, WithJsonSchema(DURATION_SCHEMA)] | None = Field(
        default=None,
        alias="for",
        max_length=64,
        description="expiry as a duration (30m, 2h; 1h30m too); none: until resumed",
    )


class ResumeRequest(_Body):
    reason: Reason
    rule: Name | None = None


class DryRunRequest(_Body):
    enabled: bool
    reason: Reason
    rule: Name | None = None


class ReloadRequest(_Body):
    reason: OptionalReason = ""


class ReasonRequest(_Body):
    reason: Reason


class OptionalReasonRequest(_Body):
    reason: OptionalReason = ""


class AlertInput(_Body):
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    startsAt: LenientStorableTime | None = None  # Alertmanager's spelling


class TargetInput(_Body):
    namespace: Name
    name: Name
    kind: WorkloadKind | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)


class TriggerRequest(_Body):
    """Exactly one of `alert` or `target`."""

    alert: AlertInput | None = None
    target: TargetInput | None = None
    dry_run: bool = Field(default=True, description="false acts for real and needs an admin token")
    reason: OptionalReason = ""
