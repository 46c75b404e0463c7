"""What the incident desk logs of a timeline it saves: every entry, but a storm's deferrals once."""

from __future__ import annotations

from datetime import UTC, datetime

from structlog.testing import capture_logs

from remediator.escalate.desk import _log_events
from remediator.store.incidents import IncidentEvent, IncidentRecord

T0 = datetime(2026, 11, 23, tzinfo=UTC)
INCIDENT = IncidentRecord(
    id="20261123-000000-abcdef",
    key="group:g",
    title="HighErrorRate on shop/Deployment/checkout",
    severity="P1",
    state="open",
    rule="restart",
    target="shop/Deployment/checkout",
    opened_at=T0,
    updated_at=T0,
)


def event(kind: str, text: str) -> IncidentEvent:
    return IncidentEvent(at=T0, kind=kind, text=text)


def test_a_storm_of_deferrals_is_one_line_with_the_count_and_everything_else_a_line_each() -> None:
    events = [
        event("opened", "opened: HighErrorRate on shop/Deployment/checkout (P1)"),
        *(event("deferred", f"restart: deferred: storm brake ({i})") for i in range(300)),
        event("acting", "restart: rollout_restart on shop/Deployment/checkout: matched"),
    ]
    with capture_logs() as logs:
        _log_events(INCIDENT, events)
    lines = [(e["kind"], e["text"], e.get("count")) for e in logs if e["event"] == "incident"]
    assert lines == [
        ("opened", "opened: HighErrorRate on shop/Deployment/checkout (P1)", None),
        ("acting", "restart: rollout_restart on shop/Deployment/checkout: matched", None),
        ("deferred", "restart: deferred: storm brake (0)", 300),
    ]
    assert all(e["incident"] == INCIDENT.id and e["state"] == "open" for e in logs)


def test_a_lone_deferral_is_logged_as_it_is() -> None:
    with capture_logs() as logs:
        _log_events(INCIDENT, [event("deferred", "restart: deferred: in flight")])
    assert [(e["kind"], e["text"], e.get("count")) for e in logs] == [
        ("deferred", "restart: deferred: in flight", None)
    ]
