"""Alertmanager webhook v4: every captured payload normalizes; bad input gets a one-line reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.model import PayloadId
from remediator.receivers import PayloadError
from remediator.receivers.alertmanager import normalize, normalize_journaled, validate


def load(examples_dir: Path, name: str) -> bytes:
    return (examples_dir / "alerts" / name).read_bytes()


def test_firing_fixture(examples_dir: Path) -> None:
    [a] = normalize(validate(load(examples_dir, "firing.json")), payload_id=PayloadId(7))
    assert a.source == "alertmanager" and a.status == "firing" and a.name == "HighErrorRate"
    assert a.fingerprint == "4cde567b6413872d"
    assert a.labels["namespace"] == "shop" and a.annotations["value"] == "42.5"
    assert a.ends_at is None, "Go's zero time means 'still firing'"
    assert a.starts_at.tzinfo is not None and a.payload_id == 7


def test_resolved_fixture_keeps_end_time(examples_dir: Path) -> None:
    [a] = normalize(validate(load(examples_dir, "resolved.json")))
    assert a.status == "resolved" and a.ends_at is not None and a.ends_at > a.starts_at


def test_grouped_fixture_gives_one_alert_each(examples_dir: Path) -> None:
    alerts = normalize(validate(load(examples_dir, "grouped-auth-failures.json")))
    assert [a.labels["deployment"] for a in alerts] == ["image-gen", "image-gen-worker", "search"]
    assert len({a.fingerprint for a in alerts}) == 3


@pytest.mark.parametrize("name", ["firing.json", "resolved.json", "high-latency.json", "rate-limited.json"])
def test_every_fixture_validates(examples_dir: Path, name: str) -> None:
    assert normalize(validate(load(examples_dir, name)))


def test_extra_fields_from_newer_alertmanagers_are_accepted(examples_dir: Path) -> None:
    body = json.loads(load(examples_dir, "firing.json"))
    body["notification_reason"] = "first notification"
    body["routeLabels"] = {"team": "payments"}
    assert len(normalize(validate(json.dumps(body).encode()))) == 1


def test_missing_fingerprint_is_derived_from_labels(examples_dir: Path) -> None:
    body = json.loads(load(examples_dir, "firing.json"))
    del body["alerts"][0]["fingerprint"]
    a1 = normalize(validate(json.dumps(body).encode()))[0]
    a2 = normalize(validate(json.dumps(body).encode()))[0]
    assert a1.fingerprint == a2.fingerprint and len(a1.fingerprint) == 16


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (
            b'{"version": "3", "groupKey": "g", "status": "firing", "alerts": []}',
            "unsupported webhook version '3'",
        ),
        (b'{"version": "4", "status": "firing", "alerts": []}', "groupKey: Field required"),
        (
            b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [{"status": "firing",'
            b' "labels": {}, "startsAt": "2026-01-01T00:00:00"}]}',
            "alerts.0.startsAt",
        ),
        (
            b'{"version": "4", "groupKey": "g", "status": "burning", "alerts": []}',
            "status: Input should be 'firing' or 'resolved'",
        ),
    ],
)
def test_bad_input_gets_one_line_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as e:
        validate(body)
    assert reason in e.value.reason
    assert "\n" not in e.value.reason
    assert e.value.status == 400


@pytest.mark.parametrize(
    "name", ["firing.json", "resolved.json", "grouped-auth-failures.json", "high-latency.json"]
)
def test_journaled_bodies_normalize_exactly_as_validated_ones(examples_dir: Path, name: str) -> None:
    body = load(examples_dir, name)
    assert normalize_journaled(body, payload_id=PayloadId(3)) == normalize(
        validate(body), payload_id=PayloadId(3)
    )


def test_journaled_body_of_an_unexpected_shape_falls_back_to_validation() -> None:
    with pytest.raises(PayloadError):
        normalize_journaled(b'{"version": "4", "alerts": [{"startsAt": "yesterday"}]}')
