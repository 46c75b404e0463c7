"""PagerDuty V3 webhooks: signatures over the fixtures' exact bytes, validation, and the label mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediator.model import PayloadId
from remediator.receivers import PayloadError
from remediator.receivers.pagerduty import ALERTNAME, Taken, normalize, taken, validate, verify_signature

FILES = [
    "incident-triggered.json",
    "incident-acknowledged.json",
    "incident-resolved.json",
    "service-updated.json",
]


def load(examples_dir: Path, name: str) -> bytes:
    return (examples_dir / "pagerduty" / name).read_bytes()


def signatures(examples_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir / "pagerduty" / "signatures.json").read_text())
    return data


# -- signatures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_fixture_signature_verifies_with_the_secret(examples_dir: Path, name: str) -> None:
    sigs = signatures(examples_dir)
    header = sigs["signatures"][name]["X-PagerDuty-Signature"]
    assert verify_signature(load(examples_dir, name), header, [sigs["secret"]])


@pytest.mark.parametrize("name", FILES)
def test_rotation_header_verifies_with_each_secret_alone_and_both(examples_dir: Path, name: str) -> None:
    sigs = signatures(examples_dir)
    header = sigs["signatures"][name]["X-PagerDuty-Signature (during rotation)"]
    body = load(examples_dir, name)
    assert verify_signature(body, header, [sigs["secret"]])
    assert verify_signature(body, header, [sigs["rotated_secret"]])
    assert verify_signature(body, header, [sigs["rotated_secret"], sigs["secret"]])
    assert not verify_signature(body, header, ["some-other-secret"])


def test_single_signature_header_does_not_verify_with_only_the_new_secret(examples_dir: Path) -> None:
    sigs = signatures(examples_dir)
    header = sigs["signatures"]["incident-triggered.json"]["X-PagerDuty-Signature"]
    assert not verify_signature(
        load(examples_dir, "incident-triggered.json"), header, [sigs["rotated_secret"]]
    )


def test_signature_is_over_the_exact_bytes(examples_dir: Path) -> None:
    sigs = signatures(examples_dir)
    header = sigs["signatures"]["incident-triggered.json"]["X-PagerDuty-Signature"]
    body = load(examples_dir, "incident-triggered.json")
    # Same JSON, different bytes (re-serialized): the signature no longer holds.
    assert not verify_signature(json.dumps(json.loads(body)).encode(), header, [sigs["secret"]])
    assert not verify_signature(body + b"\n", header, [sigs["secret"]])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=",
        "v1=deadbeef",
        "v0=58319126007c8fe3290518676ca5563b408deb968ae9818ff31e04374318339f",
        "58319126007c8fe3290518676ca5563b408deb968ae9818ff31e04374318339f",
        "sha256=58319126007c8fe3290518676ca5563b408deb968ae9818ff31e04374318339f",
    ],
)
def test_missing_or_wrong_signature_fails(examples_dir: Path, header: str | None) -> None:
    sigs = signatures(examples_dir)
    assert not verify_signature(load(examples_dir, "incident-triggered.json"), header, [sigs["secret"]])


def test_no_secrets_never_verifies(examples_dir: Path) -> None:
    sigs = signatures(examples_dir)
    header = sigs["signatures"]["incident-triggered.json"]["X-PagerDuty-Signature"]
    body = load(examples_dir, "incident-triggered.json")
    assert not verify_signature(body, header, [])
    assert not verify_signature(body, header, [""])


def test_signature_entries_tolerate_spaces_and_case(examples_dir: Path) -> None:
    sigs = signatures(examples_dir)
    good = (
        sigs["signatures"]["incident-triggered.json"]["X-PagerDuty-Signature"].upper().replace("V1=", "v1=")
    )
    header = f"v1=0000, {good} ,v2=ffff"
    assert verify_signature(load(examples_dir, "incident-triggered.json"), header, [sigs["secret"]])


# -- normalize ----------------------------------------------------------------------------------------


def test_triggered_is_one_firing_alert_with_the_documented_labels(examples_dir: Path) -> None:
    [a] = normalize(validate(load(examples_dir, "incident-triggered.json")), payload_id=PayloadId(3))
    assert a.source == "pagerduty" and a.status == "firing" and a.payload_id == 3
    assert a.fingerprint == "Q1ABCDEF2GHIJK"
    assert a.starts_at == datetime(2026, 11, 22, 21, 4, 11, tzinfo=UTC)
    assert a.ends_at is None
    assert a.name == ALERTNAME == "PagerDutyIncident"
    assert dict(a.labels) == {
        "source": "pagerduty",
        "alertname": "PagerDutyIncident",
        "service": "checkout-api",
        "urgency": "high",
        "priority": "P1",
        "title": "checkout-api: HTTP 5xx above 10/min",
        "escalation_policy": "Payments on-call",
        "incident_id": "Q1ABCDEF2GHIJK",
        "incident_key": "checkout-api/HighErrorRate",
        "incident_number": "4821",
        "status": "triggered",
        "team": "Payments",
    }
    assert dict(a.annotations) == {
        "summary": "checkout-api: HTTP 5xx above 10/min",
        "html_url": "https://acme.pagerduty.com/incidents/Q1ABCDEF2GHIJK",
        "event_type": "incident.triggered",
        "event_id": "01DEVT0000000000000000001",
    }
    assert a.generator_url == "https://acme.pagerduty.com/incidents/Q1ABCDEF2GHIJK"
    assert all(isinstance(v, str) for v in a.labels.values())


def test_resolved_pairs_with_triggered_and_ends_when_it_occurred(examples_dir: Path) -> None:
    [fired] = normalize(validate(load(examples_dir, "incident-triggered.json")))
    [resolved] = normalize(validate(load(examples_dir, "incident-resolved.json")))
    assert resolved.status == "resolved"
    assert (resolved.fingerprint, resolved.starts_at) == (fired.fingerprint, fired.starts_at)
    assert resolved.ends_at == datetime(2026, 11, 22, 21, 19, 2, tzinfo=UTC)
    assert resolved.labels["status"] == "resolved"
    assert resolved.annotations["event_type"] == "incident.resolved"


def _retyped(examples_dir: Path, event_type: str, **data: Any) -> bytes:
    body = json.loads(load(examples_dir, "incident-triggered.json"))
    body["event"]["event_type"] = event_type
    body["event"]["data"].update(data)
    return json.dumps(body).encode()


def test_reopened_fires_a_new_episode_from_reopened_at(examples_dir: Path) -> None:
    body = _retyped(examples_dir, "incident.reopened", status="triggered", reopened_at="2026-11-22T22:00:00Z")
    [a] = normalize(validate(body))
    assert a.status == "firing" and a.fingerprint == "Q1ABCDEF2GHIJK"
    assert a.starts_at == datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
    assert a.annotations["event_type"] == "incident.reopened"


def test_reopened_without_reopened_at_starts_at_creation(examples_dir: Path) -> None:
    [a] = normalize(validate(_retyped(examples_dir, "incident.reopened")))
    assert a.status == "firing" and a.starts_at == datetime(2026, 11, 22, 21, 4, 11, tzinfo=UTC)


@pytest.mark.parametrize("name", ["incident-acknowledged.json", "service-updated.json"])
def test_other_event_types_validate_but_are_ignored(examples_dir: Path, name: str) -> None:
    webhook = validate(load(examples_dir, name))
    assert not webhook.mapped
    assert normalize(webhook) == []


def test_unknown_event_type_with_unfamiliar_data_is_accepted_and_ignored(examples_dir: Path) -> None:
    body = json.dumps(
        {
            "event": {
                "id": "E1",
                "event_type": "incident.annotated",
                "occurred_at": "2026-11-22T21:30:00Z",
                "data": {"type": "incident_note", "content": "looking"},
            }
        }
    ).encode()
    assert normalize(validate(body)) == []


def test_optional_incident_fields_become_empty_strings(examples_dir: Path) -> None:
    body = _retyped(
        examples_dir,
        "incident.triggered",
        priority=None,
        teams=[],
        incident_key=None,
        number=None,
        escalation_policy=None,
        urgency=None,
    )
    [a] = normalize(validate(body))
    for label in ("priority", "team", "incident_key", "incident_number", "escalation_policy", "urgency"):
        assert a.labels[label] == "", label


def test_extra_fields_are_ignored(examples_dir: Path) -> None:
    body = json.loads(load(examples_dir, "incident-triggered.json"))
    body["event"]["new_field"] = {"x": 1}
    body["event"]["data"]["new_incident_field"] = [1, 2]
    body["top_level"] = True
    assert len(normalize(validate(json.dumps(body).encode()))) == 1


# -- validate ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "the body must be a JSON object"),
        (b"{}", "event: Field required"),
        (
            b'{"event": {"id": "E", "occurred_at": "2026-11-22T21:04:11Z"}}',
            "event.event_type: Field required",
        ),
        (
            b'{"event": {"id": "E", "event_type": "incident.triggered", "occurred_at": "yesterday"}}',
            "event.occurred_at",
        ),
        (
            b'{"event": {"id": "E", "event_type": "incident.triggered", "occurred_at": "2026-11-22T21:04"}}',
            "event.occurred_at",
        ),
    ],
)
def test_bad_bodies_give_one_line_reasons(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as e:
        validate(body)
    assert reason in e.value.reason and "\n" not in e.value.reason and e.value.status == 400


def test_incident_event_without_incident_data_is_rejected(examples_dir: Path) -> None:
    body = json.loads(load(examples_dir, "incident-triggered.json"))
    del body["event"]["data"]["created_at"]
    with pytest.raises(PayloadError, match=r"incident.triggered: event.data: .*created_at"):
        validate(json.dumps(body).encode())
    body["event"]["data"] = {"type": "service", "id": "PSVC123"}
    with pytest.raises(PayloadError, match=r"incident.triggered: event.data"):
        validate(json.dumps(body).encode())


def test_an_acknowledgement_says_who_took_which_incident(examples_dir: Path) -> None:
    webhook = validate(load(examples_dir, "incident-acknowledged.json"))
    assert normalize(webhook) == [], "not an alert: rules never see it"
    assert taken(webhook) == Taken(
        incident_key="checkout-api/HighErrorRate", status="acknowledged", by="Dana Ops"
    )


def test_a_resolution_is_taken_too_and_a_trigger_is_not(examples_dir: Path) -> None:
    resolved = taken(validate(load(examples_dir, "incident-resolved.json")))
    assert resolved is not None and resolved.status == "resolved"
    assert taken(validate(load(examples_dir, "incident-triggered.json"))) is None
    assert taken(validate(load(examples_dir, "service-updated.json"))) is None
