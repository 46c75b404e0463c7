"""JSON conditions on health answers: `services.ideogram.connected == true`."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.rules.jsonpath import JsonCondition

HEALTH = {
    "status": "degraded",
    "latency_ms": 812.5,
    "services": {"ideogram": {"connected": False}, "db": {"connected": True, "pool": 3}},
    "checks": [{"name": "redis", "ok": True}],
    "odd key": 1,
}


@pytest.mark.parametrize(
    ("condition", "holds", "reason"),
    [
        ("services.ideogram.connected == true", False, "services.ideogram.connected is false (want == true)"),
        ("services.db.connected == true", True, "services.db.connected is true (want == true)"),
        ('status != "ok"', True, 'status is "degraded" (want != "ok")'),
        ("latency_ms < 1000", True, "latency_ms is 812.5 (want < 1000)"),
        ("latency_ms >= 1000", False, "latency_ms is 812.5 (want >= 1000)"),
        ("checks[0].ok == true", True, "checks[0].ok is true (want == true)"),
        ('["odd key"] == 1', True, '["odd key"] is 1 (want == 1)'),
        ("services.db.pool", True, "services.db.pool is 3"),
        ("services.queue.connected == true", False, "services.queue.connected is missing"),
        ("checks[3].ok == true", False, "checks[3].ok is missing"),
        ("status > 3", False, 'status is "degraded", not a number'),
        ("services.db.pool == 3.0", True, "services.db.pool is 3 (want == 3.0)"),
    ],
)
def test_evaluate(condition: str, holds: bool, reason: str) -> None:
    assert JsonCondition.parse(condition).evaluate(HEALTH) == (holds, reason)


def test_true_is_not_one() -> None:
    assert JsonCondition.parse("a == 1").evaluate({"a": True})[0] is False
    assert JsonCondition.parse("a == true").evaluate({"a": 1})[0] is False


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("== true", "no path"),
        ("a. == 1", "ends with"),
        ("a == yes", "not a JSON literal"),
        ('a < "x"', "needs a number"),
        ("a == {}", "scalar"),
        ("a b == 1", "cannot read the path"),
    ],
)
def test_parse_errors(condition: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        JsonCondition.parse(condition)


def test_a_non_object_document_is_missing_not_a_crash() -> None:
    doc: Any = ["x"]
    assert JsonCondition.parse("a.b == 1").evaluate(doc) == (False, "a.b is missing")
