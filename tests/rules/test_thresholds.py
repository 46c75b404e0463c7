from fractions import Fraction

import pytest

from remediator.rules.thresholds import ConditionResult, parse_quantity, parse_threshold
from tests.rules import make_alert


def check(condition: str, value: str | None) -> ConditionResult:
    annotations = {} if value is None else {"value": value}
    return parse_threshold(condition).evaluate(make_alert({}, annotations))


@pytest.mark.parametrize(
    ("condition", "value", "holds", "reason"),
    [
        # A bare value is in the threshold's unit (the fixtures' `value: "42.5"`).
        ("value > 10/min", "42.5", True, "value 42.5/min > 10/min"),
        ("value > 10/min", "3", False, "value 3/min is not > 10/min"),
        ("value > 5s", "7.3", True, "value 7.3s > 5s"),
        # A value with a unit is converted to the threshold's unit, exactly.
        ("value > 5s", "7300ms", True, "value 7.3s > 5s"),
        ("value > 7.3s", "7300ms", False, "value 7.3s is not > 7.3s"),
        ("value >= 7.3s", "7300ms", True, "value 7.3s >= 7.3s"),
        ("value > 10/min", "1/s", True, "value 60/min > 10/min"),
        ("value < 1/s", "42/min", True, "value 0.7/s < 1/s"),
        ("value > 1h30m", "2h", True, "value 7200s > 1h30m"),
        ("value > 1m", "1m30s", True, "value 1.5m > 1m"),
        # A bare threshold takes the value's unit.
        ("value > 0", "3/min", True, "value 3/min > 0"),
        ("value > 0", "0", False, "value 0 is not > 0"),
        # Percent is a scale: 95% == 0.95, a bare value against % is a ratio.
        ("value >= 95%", "0.97", True, "value 97% >= 95%"),
        ("value >= 95%", "0.9", False, "value 90% is not >= 95%"),
        ("value >= 0.95", "97%", True, "value 97% >= 0.95"),
        ("value >= 95%", "96%", True, "value 96% >= 95%"),
        # Every operator.
        ("value == 3", "3.0", True, "value 3 == 3"),
        ("value != 3", "3", False, "value 3 is not != 3"),
        ("value <= 3", "3", True, "value 3 <= 3"),
        ("value < 3", "3", False, "value 3 is not < 3"),
        ("value >= -1", "-1", True, "value -1 >= -1"),
        ("value > 1e3", "1500", True, "value 1500 > 1e3"),
        # Prometheus special values.
        ("value > 10/min", "+Inf", True, "value +Inf/min > 10/min"),
        ("value < 10", "-Inf", True, "value -Inf < 10"),
    ],
)
def test_evaluates_with_units_and_reasons(condition: str, value: str, holds: bool, reason: str) -> None:
    result = check(condition, value)
    assert (result.holds, result.reason) == (holds, reason)
    assert bool(result) is holds


@pytest.mark.parametrize(
    ("condition", "value", "reason"),
    [
        ("value > 10/min", None, "annotation 'value' missing"),
        ("value > 10/min", "", "annotation 'value' missing"),
        ("value > 10/min", "  ", "annotation 'value' missing"),
        ("value > 10/min", "abc", "value 'abc' is not a number"),
        ("value > 10/min", "NaN", "value 'NaN' is not a number"),
        ("value > 10/min", "10/day", "value '10/day' is not a number"),
        ("value > 5s", "42/min", "value '42/min' is a rate, threshold 5s is a duration"),
        ("value > 10/min", "5s", "value '5s' is a duration, threshold 10/min is a rate"),
        ("value > 95%", "5s", "value '5s' is a duration, threshold 95% is a ratio"),
    ],
)
def test_unusable_values_do_not_hold_and_say_why(condition: str, value: str | None, reason: str) -> None:
    assert check(condition, value) == ConditionResult(False, reason)


def test_other_subjects() -> None:
    alert = make_alert({"status_code": "401"}, {"p99": "7300ms"})
    assert parse_threshold("annotations.p99 > 5s").evaluate(alert) == ConditionResult(
        True, "annotations.p99 7.3s > 5s"
    )
    assert parse_threshold("labels.status_code >= 400").evaluate(alert) == ConditionResult(
        True, "labels.status_code 401 >= 400"
    )
    assert parse_threshold("labels.missing >= 400").evaluate(alert) == ConditionResult(
        False, "label 'missing' missing"
    )
    assert parse_threshold("annotations.p50 > 1s").evaluate(alert) == ConditionResult(
        False, "annotation 'p50' missing"
    )


def test_result_subject_is_checked_with_a_raw_value() -> None:
    confirm = parse_threshold("result > 10")
    assert confirm.check("12.5") == ConditionResult(True, "result 12.5 > 10")
    assert confirm.check(12.5) == ConditionResult(True, "result 12.5 > 10")
    assert confirm.check(None) == ConditionResult(False, "result missing")
    assert confirm.check(True) == ConditionResult(False, "result True is not a number")
    assert not confirm.evaluate(make_alert())


def test_whitespace_is_free() -> None:
    assert str(parse_threshold("value>10/min")) == "value > 10/min"
    assert str(parse_threshold("  annotations.p99   >=   5 s ")) == "annotations.p99 >= 5 s"
    assert parse_threshold("value > 10 /min").evaluate(make_alert({}, {"value": "11"})).holds


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("value = 1", "use '=='"),
        ("rate > 1", "unknown subject 'rate'"),
        ("annotations > 1", "unknown subject"),
        ("value > 10/day", "'10/day' is not a number"),
        ("value >", "missing the threshold"),
        ("value 10", "is not like"),
        ("value > NaN", "NaN is not a threshold"),
        ("labels.x-y > 1", "is not like"),
        ("value > 5 apples", "not a number"),
    ],
)
def test_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_threshold(text)


def test_quantities() -> None:
    assert parse_quantity("7300ms").unit is not None
    assert parse_quantity("42.5").unit is None
    assert parse_quantity("1h30m").amount == 5400
    with pytest.raises(ValueError, match="not a number"):
        parse_quantity("fast")


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "+0.0",
        "42.5",
        "5.",
        ".5",
        "-.5",
        "+.5",
        "007",
        "1e3",
        "1E-5",
        "-2.50e+2",
        "1e400",
        "-1e-400",
        "123456789.987654321e-3",
        "0.1",
        "2.675",
    ],
)
def test_numbers_are_read_exactly_as_fraction_reads_them(text: str) -> None:
    assert parse_quantity(text).amount == Fraction(text)
