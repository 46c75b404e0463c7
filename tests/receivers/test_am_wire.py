"""The msgspec fast path accepts and reads exactly what the documented pydantic model does.

Differential: every body (the captured Alertmanager payloads, then mutations of them: times in
every spelling, coerced and wrong types, unknown, deep, huge and oddly encoded fields, broken
JSON) is judged by `AmPayload` alone and by `validate`. Where the model accepts, `validate` gives
the same alerts, times to the microsecond and offset included; where it refuses, `validate`
refuses with the model's reason. And the fast decoder never vouches for a body the model refuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from remediator.model import Alert, PayloadId
from remediator.receivers import PayloadError, _am_wire
from remediator.receivers.alertmanager import AmPayload, _fingerprint, normalize, validate

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "alertmanager"

TIMES = [
    "2026-11-23T00:00:08Z",
    "2026-11-23T00:00:08.7Z",
    "2026-11-23T00:00:08.731556Z",
    "2026-11-23T00:00:08.7315569Z",
    "2026-11-23T00:00:08.731556999Z",
    "2026-11-23T00:00:08.9999999999Z",
    "2026-11-23T00:00:08+00:00",
    "2026-11-23T00:00:08-00:00",
    "2026-11-23T00:00:08+05:30",
    "2026-11-23T00:00:08.5-23:59",
    "2026-11-23T00:00:08+23:59",
    "2026-11-23T00:00:08+24:00",
    "2026-11-23T00:00:08+0100",
    "2026-11-23T00:00:08+01",
    "2026-11-23t00:00:08z",
    "2026-11-23 00:00:08Z",
    "2026-11-23_00:00:08Z",
    "2026-11-23T00:00Z",
    "2026-11-23T00:00:60Z",
    "2026-11-23T24:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-11-23",
    "2026-11-23T00:00:08",
    "20261123T000008Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "2026-11-23T00:00:08.Z",
    "2026-11-23T00:00:08,5Z",
    " 2026-11-23T00:00:08Z",
    "yesterday",
    "",
]

ODD_VALUES: list[Any] = [None, 4, "4", 5.0, True, [], {}, "x", 2**70, -1, "\u0000", "\ud83d\ude00"]

RAW_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"x"',
    b"{not json",
    b'\xef\xbb\xbf{"version": "4", "groupKey": "g", "status": "firing", "alerts": []}',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": []} trailing',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": []}   ',
    b'{"version": "4", "version": "3", "groupKey": "g", "status": "firing", "alerts": []}',
    b'{"version": "3", "version": "4", "groupKey": "g", "status": "firing", "alerts": []}',
    b'{"version": "4", "groupKey": "g\xff", "status": "firing", "alerts": []}',
    b'{"version": "4", "groupKey": "g\\ud800", "status": "firing", "alerts": []}',
    b'{"version": "4", "groupKey": "g\\udc00\\ud800", "status": "firing", "alerts": []}',
    b'{"version": "4", "groupKey": "g\\ud83d\\ude00", "status": "firing", "alerts": []}',
    b'{"version": "4", "groupKey": "g\x01", "status": "firing", "alerts": []}',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [], "x": NaN}',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [], "x": 1' + b"0" * 5000 + b"}",
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [], "x": "\xff"}',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [], "x": "\xed\xa0\x80"}',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [], "truncatedAlerts": 1e2}',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [], "truncatedAlerts": -0}',
    b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [], "truncatedAlerts": 01}',
]


def _fixtures() -> list[bytes]:
    return [p.read_bytes() for p in sorted(FIXTURES.glob("*.json"))]


def _deep(n: int) -> Any:
    value: Any = []
    for _ in range(n):
        value = [value]
    return value


def _mutations(body: bytes) -> Iterator[bytes]:
    doc = json.loads(body)
    yield body
    for t in TIMES:
        for field in ("startsAt", "endsAt"):
            d = json.loads(body)
            d["alerts"][0][field] = t
            yield json.dumps(d).encode()
    for key in ("version", "groupKey", "status", "receiver", "truncatedAlerts", "alerts", "groupLabels"):
        for v in ODD_VALUES:
            yield json.dumps({**doc, key: v}).encode()
        yield json.dumps({k: v for k, v in doc.items() if k != key}).encode()
    for key in ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"):
        for v in [*ODD_VALUES, {"a": 1}, {"a": None}, {"a": "b"}]:
            d = json.loads(body)
            d["alerts"][0][key] = v
            yield json.dumps(d).encode()
        d = json.loads(body)
        del d["alerts"][0][key]
        yield json.dumps(d).encode()
    for extra in ({"notification_reason": "x"}, {"routeLabels": {"a": "b"}}, {"x": _deep(300)}):
        yield json.dumps({**doc, **extra}).encode()
        d = json.loads(body)
        d["alerts"][0].update(extra)
        yield json.dumps(d).encode()
    yield json.dumps(doc, ensure_ascii=False).encode()
    yield json.dumps({**doc, "labels": {"é": "ü"}}, ensure_ascii=True).encode()


def _corpus() -> list[bytes]:
    return [m for b in _fixtures() for m in _mutations(b)] + RAW_BODIES


def _model_alerts(p: AmPayload) -> list[Alert]:
    """What the model says, read straight from its fields (the reference)."""
    return [
        Alert(
            source="alertmanager",
            fingerprint=a.fingerprint or _fingerprint(a.labels),
            status=a.status,
            labels=a.labels,
            annotations=a.annotations,
            starts_at=a.startsAt,
            ends_at=a.endsAt if a.endsAt is not None and a.endsAt.year > 1 else None,
            generator_url=a.generatorURL,
            payload_id=PayloadId(1),
            group_key=p.groupKey,
        )
        for a in p.alerts
    ]


def _model(body: bytes) -> AmPayload | None:
    try:
        return AmPayload.model_validate_json(body)
    except ValidationError:
        return None


def test_the_fixtures_take_the_fast_path() -> None:
    bodies = _fixtures()
    assert len(bodies) >= 5
    assert all(_am_wire.decode(b) is not None for b in bodies)


def test_the_corpus_has_both_verdicts_on_both_paths() -> None:
    corpus = _corpus()
    fast = [b for b in corpus if _am_wire.decode(b) is not None]
    accepted = [b for b in corpus if _model(b) is not None]
    assert len(corpus) > 1000
    assert 100 < len(fast) < len(accepted) < len(corpus)


@pytest.mark.parametrize("body", _corpus())
def test_validate_agrees_with_the_model(body: bytes) -> None:
    model = _model(body)
    fast = _am_wire.decode(body)
    if model is None:
        assert fast is None, "the fast path vouched for a body the model refuses"
        with pytest.raises(PayloadError):
            validate(body)
        return
    got = normalize(validate(body), payload_id=PayloadId(1))
    want = _model_alerts(model)
    assert got == want
    for g, w in zip(got, want, strict=True):
        assert g.starts_at.utcoffset() == w.starts_at.utcoffset()
        assert g.starts_at.microsecond == w.starts_at.microsecond
        assert (g.ends_at and g.ends_at.utcoffset()) == (w.ends_at and w.ends_at.utcoffset())
