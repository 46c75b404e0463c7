"""Alertmanager webhook payloads, version 4.

`validate` runs on the request path: the body must be JSON, version "4", and
shaped like Alertmanager's `notify/webhook.Message`; anything else is a 400
(Alertmanager drops 4xx answers, which is right for a payload that will never
parse). Unknown extra fields are accepted: Alertmanager adds fields over
releases (`notification_reason` in 0.32, `routeLabels` in 0.34).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from remediator.model import Alert, PayloadId
from remediator.receivers import _am_wire
from remediator.receivers._am_wire import WireAlert, WireMessage
from remediator.receivers.errors import PayloadError, describe_validation_error
from remediator.receivers.times import StorableTime

# Go's zero time: Alertmanager's `endsAt` for an alert that is still firing.
_GO_ZERO_YEAR = 1


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: StorableTime
    endsAt: StorableTime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AmPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str
    status: Literal["firing", "resolved"]
    receiver: str = ""
    truncatedAlerts: int = 0
    alerts: list[AmAlert]


def validate(body: bytes) -> WireMessage:
    """Parse and check one webhook body. Raises PayloadError with a one-line reason.

    Bodies as Alertmanager sends them are decoded by msgspec (`_am_wire`, a fifth of the cost);
    anything else is judged by the documented model, `AmPayload`, which has the last word."""
    message = _am_wire.decode(body)
    if message is not None:
        return message
    return _from_model(_validate_model(body))


def _validate_model(body: bytes) -> AmPayload:
    try:
        return AmPayload.model_validate_json(body)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise PayloadError(f"malformed JSON: {first['msg']}") from None
        if first["loc"] == ("version",) and first["type"] == "literal_error":
            got = first.get("input")
            raise PayloadError(f"unsupported webhook version {got!r}: remediator reads version '4'") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise PayloadError("invalid Alertmanager payload: the body must be a JSON object") from None
        raise PayloadError(describe_validation_error(e, what="Alertmanager payload")) from None


def _from_model(p: AmPayload) -> WireMessage:
    """The model's reading in the decoder's shape (times as `isoformat()`, which reads back exactly)."""
    return WireMessage(
        version="4",
        groupKey=p.groupKey,
        status=p.status,
        receiver=p.receiver,
        truncatedAlerts=p.truncatedAlerts,
        alerts=[
            WireAlert(
                status=a.status,
                labels=a.labels,
                annotations=a.annotations,
                startsAt=a.startsAt.isoformat(),
                endsAt=a.endsAt.isoformat() if a.endsAt is not None else None,
                generatorURL=a.generatorURL,
                fingerprint=a.fingerprint,
            )
            for a in p.alerts
        ],
    )


def normalize_journaled(body: bytes, *, payload_id: PayloadId | None = None) -> list[Alert]:
    """Alerts from a body that `validate` accepted before it was journaled (the processor reads
    every accepted body back). Raises PayloadError for a body it would not accept now."""
    return normalize(validate(body), payload_id=payload_id)


def _fingerprint(labels: dict[str, str]) -> str:
    """Stand-in when a sender omits the fingerprint: stable for the label set, like Alertmanager's."""
    h = hashlib.sha256("\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items())).encode())
    return h.hexdigest()[:16]


def normalize(payload: WireMessage, *, payload_id: PayloadId | None = None) -> list[Alert]:
    alerts = []
    for a in payload.alerts:
        ends_at = _read_time(a.endsAt) if a.endsAt is not None else None
        alerts.append(
            Alert(
                source="alertmanager",
                fingerprint=a.fingerprint or _fingerprint(a.labels),
                status=a.status,
                labels=a.labels,
                annotations=a.annotations,
                starts_at=_read_time(a.startsAt),
                ends_at=ends_at if ends_at is not None and ends_at.year > _GO_ZERO_YEAR else None,
                generator_url=a.generatorURL,
                payload_id=payload_id,
                group_key=payload.groupKey,
            )
        )
    return alerts


@functools.lru_cache(maxsize=4096)
def _read_time(text: str) -> datetime:
    """A time `validate` checked: read as it read it. Cached (a datetime is immutable): the same
    strings come again and again (Go's zero time ends every firing alert, a group's alerts share
    their start)."""
    return _am_wire.parse_time(text)
