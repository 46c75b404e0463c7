"""PagerDuty V3 webhooks: signature check, validation, and incidents as `model.Alert`s.

`verify_signature` and `validate` run on the request path (`api/pagerduty.py`): an unsigned or
wrongly signed body is refused before anything is parsed, and a body that will never parse gets a 400.
`normalize` runs again off the request path, from the journal, like the Alertmanager receiver.

Only incident lifecycle events become alerts: `incident.triggered` and `incident.reopened` fire,
`incident.resolved` resolves. Every other event type (acknowledged, annotated, `service.*`...) is
accepted and journaled but normalizes to nothing, so subscribing to more events than remediator uses is
harmless. `taken` reads who acknowledged or resolved an incident: when it is one of remediator's own
pages, its escalation ladder stops (the incident desk, not the rules, acts on it).

Label mapping (every value a string; absent fields are ""):

| label | from |
|---|---|
| `source` | always `pagerduty` |
| `alertname` | always `PagerDutyIncident` (see below) |
| `service` | `data.service.summary` |
| `urgency` | `data.urgency` (`high`/`low`) |
| `priority` | `data.priority.summary` (`P1`...) |
| `title` | `data.title` |
| `escalation_policy` | `data.escalation_policy.summary` |
| `incident_id`, `incident_key`, `incident_number`, `status` | the incident's fields |
| `team` | first team's summary |

`alertname` is constant because titles vary per incident and carry numbers: rules match on it (or on
`source = "pagerduty"`) and narrow with `service`, `urgency`, `priority`, `team`...

Annotations: `summary` (the title), `html_url`, `event_type`, `event_id`. The fingerprint is the
incident id, so the triggered and resolved events of one incident pair up. An episode starts at the
incident's `reopened_at` when it has one, else `created_at`: a reopened incident is a new episode, and
the resolve that follows it carries the same `reopened_at`, so it closes that episode.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from remediator.model import Alert, AlertStatus, PayloadId
from remediator.receivers.errors import PayloadError, describe_validation_error
from remediator.receivers.times import StorableTime
from remediator.secrets import Secret

SIGNATURE_HEADER = "X-PagerDuty-Signature"
WEBHOOK_ID_HEADER = "X-Webhook-Id"
ALERTNAME = "PagerDutyIncident"
"""The `alertname` every PagerDuty incident gets; see the module docstring for why it is constant."""

EVENT_STATUS: dict[str, AlertStatus] = {
    "incident.triggered": "firing",
    "incident.reopened": "firing",
    "incident.resolved": "resolved",
}
"""The event types that become alerts, and the status each gives. Others are ignored."""

TAKEN_BY_A_HUMAN = frozenset({"incident.acknowledged", "incident.resolved"})
"""Event types that say someone in PagerDuty has an incident: remediator's own page stops escalating."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Taken:
    """Someone acknowledged or resolved a PagerDuty incident: its key, its new status, and by whom."""

    incident_key: str
    status: str
    by: str


def verify_signature(body: bytes, header: str | None, secrets: Sequence[Secret | str]) -> bool:
    """True if any `v1=` signature in `header` is the HMAC-SHA256 of `body` under any of `secrets`.

    PagerDuty sends one signature per active secret, comma-separated, so a rotation needs no downtime.
    Every candidate is compared in constant time; no secret (or an empty one) never verifies anything.
    """
    if not header:
        return False
    # Signatures are hex: a non-ASCII one can never match, and must not reach the comparison (which
    # refuses non-ASCII str) as anything but bytes.
    given = [
        part.strip()[3:].lower().encode("utf-8", "surrogateescape")
        for part in header.split(",")
        if part.strip().startswith("v1=")
    ]
    if not given:
        return False
    matched = False
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value:
            continue
        expected = hmac.new(value.encode(), body, hashlib.sha256).hexdigest().encode()
        for sig in given:
            # No early exit: the time taken does not depend on which candidate matched.
            matched |= hmac.compare_digest(expected, sig)
    return matched


class PdReference(BaseModel):
    """A PagerDuty resource reference (`service_reference`, `team_reference`...): id and summary."""

    model_config = ConfigDict(extra="ignore")

    id: str = ""
    summary: str | None = None


class PdIncident(BaseModel):
    """`event.data` of an incident event (PagerDuty's "Event Data Types": incident)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    type: Literal["incident"]
    html_url: str | None = None
    number: int | None = None
    status: str = ""
    incident_key: str | None = None
    created_at: StorableTime
    reopened_at: StorableTime | None = None
    title: str = ""
    service: PdReference | None = None
    escalation_policy: PdReference | None = None
    teams: list[PdReference] = Field(default_factory=list)
    priority: PdReference | None = None
    urgency: str | None = None


class PdEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str = ""
    occurred_at: StorableTime
    agent: PdReference | None = None
    """Who caused the event (the user who acknowledged); absent for automatic events."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Shaped by `event_type`; checked as an incident only for the types that become alerts."""


class PdWebhook(BaseModel):
    """One V3 webhook delivery: PagerDuty never batches, so exactly one event."""

    model_config = ConfigDict(extra="ignore")

    event: PdEvent

    @property
    def event_type(self) -> str:
        return self.event.event_type

    @property
    def mapped(self) -> bool:
        """True when this event becomes an alert; False for the types remediator ignores."""
        return self.event.event_type in EVENT_STATUS

    def incident(self) -> PdIncident:
        """`event.data` as an incident (raises pydantic's ValidationError when it is not one)."""
        return PdIncident.model_validate(self.event.data)


def validate(body: bytes) -> PdWebhook:
    """Parse and check one webhook body. Raises PayloadError with a one-line reason.

    The envelope is checked for every event; `event.data` only for the event types that become
    alerts, so a new PagerDuty event type with an unfamiliar `data` is still accepted (and ignored).
    """
    try:
        webhook = PdWebhook.model_validate_json(body)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise PayloadError(f"malformed JSON: {first['msg']}") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise PayloadError("invalid PagerDuty webhook: the body must be a JSON object") from None
        raise PayloadError(describe_validation_error(e, what="PagerDuty webhook")) from None
    if webhook.mapped:
        try:
            webhook.incident()
        except ValidationError as e:
            reason = describe_validation_error(e, what="incident")
            raise PayloadError(f"{webhook.event_type}: event.data: {reason}") from None
    return webhook


def taken(webhook: PdWebhook) -> Taken | None:
    """The acknowledgement or resolution this event carries, None for any other event (or no key).
    Rules never see acknowledgements (they are not alerts); the incident desk does, to stop a ladder."""
    if webhook.event_type not in TAKEN_BY_A_HUMAN:
        return None
    try:
        inc = webhook.incident()
    except ValidationError:
        return None
    if not inc.incident_key:
        return None
    return Taken(
        incident_key=inc.incident_key, status=inc.status, by=_summary(webhook.event.agent) or "PagerDuty"
    )


def _summary(ref: PdReference | None) -> str:
    return (ref.summary or "") if ref is not None else ""


def normalize(webhook: PdWebhook, *, payload_id: PayloadId | None = None) -> list[Alert]:
    """One alert for an incident lifecycle event, none for anything else."""
    status = EVENT_STATUS.get(webhook.event.event_type)
    if status is None:
        return []
    inc = webhook.incident()
    title = inc.title
    labels = {
        "source": "pagerduty",
        "alertname": ALERTNAME,
        "service": _summary(inc.service),
        "urgency": inc.urgency or "",
        "priority": _summary(inc.priority),
        "title": title,
        "escalation_policy": _summary(inc.escalation_policy),
        "incident_id": inc.id,
        "incident_key": inc.incident_key or "",
        "incident_number": str(inc.number) if inc.number is not None else "",
        "status": inc.status,
        "team": _summary(inc.teams[0]) if inc.teams else "",
    }
    annotations = {
        "summary": title,
        "html_url": inc.html_url or "",
        "event_type": webhook.event.event_type,
        "event_id": webhook.event.id,
    }
    return [
        Alert(
            source="pagerduty",
            fingerprint=inc.id,
            status=status,
            labels=labels,
            annotations=annotations,
            starts_at=inc.reopened_at or inc.created_at,
            ends_at=webhook.event.occurred_at if status == "resolved" else None,
            generator_url=inc.html_url or "",
            payload_id=payload_id,
        )
    ]
