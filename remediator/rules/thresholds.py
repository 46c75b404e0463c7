"""A rule's `when:` condition: a threshold on one number the alert carries.

Syntax: `SUBJECT OP LIMIT`, e.g. `value > 10/min`, `value >= 0.95`, `annotations.p99 > 5s`,
`labels.status_code >= 400`; operators `> >= < <= == !=`.

Semantics, chosen so a rule reads the way the alert's summary does:

* **Subject.** `value` is the annotation `value` (where our Prometheus rules put `$value`);
  `annotations.NAME` / `labels.NAME` name another field. `result` is reserved for
  `confirm.when`, whose number comes from a Prometheus query, not from the alert.
* **Units.** Durations `ms s m h d` (and compound `1h30m`), rates `/s /min /h`, bare numbers,
  and `%`, which is only a scale: `95%` is exactly `0.95`.
* **A number without a unit is in the other side's unit.** The fixture's `value: "42.5"` against
  `> 10/min` is 42.5/min; `"7.3"` against `> 5s` is 7.3 s; a bare threshold (`value > 0`)
  against `"3/min"` is 0/min. Against `%`, a bare number is a ratio (`"0.97"` is 97%), as
  Prometheus ratios are.
* **A value with a unit is converted to the threshold's unit** (`"7300ms"` vs `> 5s` -> 7.3s).
  Mixing families (a rate threshold, a duration value) cannot be decided: the condition does
  not hold and the reason says why. The value is only known when the alert arrives, so this is
  an evaluation-time outcome; syntax and unknown units are load-time errors (`parse_threshold`).
* **Never an exception at evaluation.** A missing, empty, unparsable or NaN subject makes the
  condition not hold, with a reason the engine records (`condition_false`).

Arithmetic is exact (`Fraction`), so `7300ms > 7.3s` is false rather than a float accident.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from remediator.durations import UNIT_SECONDS, parse_duration_exact
from remediator.model import Alert

Family = Literal["duration", "rate", "ratio"]
SubjectSource = Literal["annotations", "labels", "result"]
Number = Fraction | float  # float only for +Inf / -Inf


@dataclass(frozen=True, slots=True)
class Unit:
    symbol: str
    family: Family
    factor: Fraction  # multiply to get the family's base unit: seconds, per second, ratio


UNITS: dict[str, Unit] = {
    **{sym: Unit(sym, "duration", f) for sym, f in UNIT_SECONDS.items()},
    "/s": Unit("/s", "rate", Fraction(1)),
    "/min": Unit("/min", "rate", Fraction(1, 60)),
    "/h": Unit("/h", "rate", Fraction(1, 3600)),
    "%": Unit("%", "ratio", Fraction(1, 100)),
}
_RATIO = Unit("", "ratio", Fraction(1))
_SECONDS = UNITS["s"]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"\s*({_NUMBER})\s*(ms|s|m|h|d|/s|/min|/h|%)?\s*")
_SPECIAL = {"+inf": math.inf, "inf": math.inf, "-inf": -math.inf}
_NAN = {"nan", "+nan", "-nan"}
_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|==|!=|>|<|=)\s*(.*?)\s*")
_SUBJECT = re.compile(r"(annotations|labels)\.([A-Za-z_][A-Za-z0-9_]*)")

_OPS: dict[str, Callable[[Number, Number], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """Whether a condition holds, and the one-line reason the engine records either way.

    Truthiness follows `holds`, so `if rule.check_condition(alert):` reads right.
    """

    holds: bool
    reason: str

    def __bool__(self) -> bool:
        return self.holds


@dataclass(frozen=True, slots=True)
class Quantity:
    amount: Number
    unit: Unit | None  # None: a bare number, which takes the other side's unit

    def is_nan(self) -> bool:
        return isinstance(self.amount, float) and math.isnan(self.amount)


def parse_quantity(text: str) -> Quantity:
    """`42.5`, `10/min`, `7300ms`, `1h30m`, `95%`, `+Inf` -> Quantity. Raises ValueError."""
    s = text.strip()
    low = s.lower()
    if low in _SPECIAL:
        return Quantity(_SPECIAL[low], None)
    if low in _NAN:
        return Quantity(math.nan, None)
    m = _QUANTITY.fullmatch(s)
    if m:
        unit = UNITS[m.group(2)] if m.group(2) else None
        return Quantity(_decimal(m.group(1)), unit)
    try:
        return Quantity(parse_duration_exact(s), _SECONDS)  # compound: 1h30m
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a number with an optional unit ({', '.join(UNITS)})")


def _decimal(text: str) -> Fraction:
    """`Fraction(text)` for a number `_NUMBER` matched, from its digits: a third of the time of
    `Fraction`'s own parsing, which runs for every alert a `when:` condition reads."""
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    n = int(digits) if digits.strip("+-") else 0
    shift = int(exponent or 0) - len(fraction)
    return Fraction(n * 10**shift) if shift >= 0 else Fraction(n, 10**-shift)


@dataclass(frozen=True, slots=True)
class Subject:
    source: SubjectSource
    key: str

    def __str__(self) -> str:
        if self.source == "result":
            return "result"
        if self.source == "annotations" and self.key == "value":
            return "value"
        return f"{self.source}.{self.key}"

    def describe_missing(self) -> str:
        if self.source == "result":
            return "result missing"
        return f"{self.source[:-1]} {self.key!r} missing"

    def lookup(self, alert: Alert) -> str | None:
        if self.source == "labels":
            return alert.labels.get(self.key)
        if self.source == "annotations":
            return alert.annotations.get(self.key)
        return None


@dataclass(frozen=True, slots=True)
class Threshold:
    """A parsed `when:` condition. Build with `parse_threshold`."""

    subject: Subject
    op: str
    limit: Quantity
    limit_text: str

    def __str__(self) -> str:
        return f"{self.subject} {self.op} {self.limit_text}"

    def evaluate(self, alert: Alert) -> ConditionResult:
        """Does the alert's subject satisfy the threshold? Never raises."""
        if self.subject.source == "result":
            return ConditionResult(False, "'result' is only known after the confirm query")
        return self.check(self.subject.lookup(alert))

    def check(self, raw: str | float | None) -> ConditionResult:
        """Compare one raw value (an annotation, a label, a query result) with the threshold."""
        name = str(self.subject)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return ConditionResult(False, self.subject.describe_missing())
        if isinstance(raw, bool):
            return ConditionResult(False, f"{name} {raw!r} is not a number")
        try:
            value = parse_quantity(raw) if isinstance(raw, str) else Quantity(_exact(raw), None)
        except ValueError:
            return ConditionResult(False, f"{name} {raw!r} is not a number")
        if value.is_nan():
            return ConditionResult(False, f"{name} {raw!r} is not a number")

        v_unit, l_unit = _resolve_units(value.unit, self.limit.unit)
        if v_unit.family != l_unit.family:
            return ConditionResult(
                False,
                f"{name} {raw!r} is a {v_unit.family}, threshold {self.limit_text} is a {l_unit.family}",
            )
        if v_unit is l_unit:
            # One unit on both sides (the common case: a bare value takes the threshold's): the amounts
            # compare as the base amounts do, every factor being positive, and show in that unit.
            holds = _OPS[self.op](value.amount, self.limit.amount)
            shown = _format(value.amount) + v_unit.symbol
        else:
            v_base = value.amount * v_unit.factor
            l_base = self.limit.amount * l_unit.factor
            shown_unit = self.limit.unit or value.unit
            shown = _format(value.amount) + (value.unit.symbol if value.unit else "")
            if shown_unit is not None:
                shown = _format(v_base / shown_unit.factor) + shown_unit.symbol
            holds = _OPS[self.op](v_base, l_base)
        if holds:
            return ConditionResult(True, f"{name} {shown} {self.op} {self.limit_text}")
        return ConditionResult(False, f"{name} {shown} is not {self.op} {self.limit_text}")


def parse_threshold(text: str) -> Threshold:
    """Parse `value > 10/min`-style text. Raises ValueError with a message that names the text."""
    if not isinstance(text, str):
        raise ValueError(f"condition {text!r} must be a string like 'value > 10/min'")
    m = _CONDITION.fullmatch(text)
    if not m:
        raise ValueError(f"condition {text!r} is not like 'value > 10/min' or 'annotations.p99 > 5s'")
    subject_text, op, limit_text = m.groups()
    if op == "=":
        raise ValueError(f"condition {text!r}: use '==' to compare for equality")
    subject = _parse_subject(subject_text, text)
    if not limit_text:
        raise ValueError(f"condition {text!r}: missing the threshold after {op!r}")
    try:
        limit = parse_quantity(limit_text)
    except ValueError as e:
        raise ValueError(f"condition {text!r}: threshold {e}") from None
    if limit.is_nan():
        raise ValueError(f"condition {text!r}: NaN is not a threshold")
    return Threshold(subject=subject, op=op, limit=limit, limit_text=limit_text)


def _parse_subject(s: str, text: str) -> Subject:
    if s == "value":
        return Subject("annotations", "value")
    if s == "result":
        return Subject("result", "")
    m = _SUBJECT.fullmatch(s)
    if not m:
        raise ValueError(
            f"condition {text!r}: unknown subject {s!r}; use value, annotations.NAME or labels.NAME"
        )
    source: SubjectSource = "annotations" if m.group(1) == "annotations" else "labels"
    return Subject(source, m.group(2))


def _resolve_units(value: Unit | None, limit: Unit | None) -> tuple[Unit, Unit]:
    """Give a bare side the other side's unit (a plain ratio against `%`)."""
    if value is None and limit is None:
        return _RATIO, _RATIO
    if value is None:
        assert limit is not None
        return (_RATIO if limit.family == "ratio" else limit), limit
    if limit is None:
        return value, (_RATIO if value.family == "ratio" else value)
    return value, limit


def _exact(x: float | int) -> Number:
    if isinstance(x, float) and not math.isfinite(x):
        return x
    return Fraction(x)


def _format(x: Number) -> str:
    if isinstance(x, float):
        if math.isinf(x):
            return "+Inf" if x > 0 else "-Inf"
        return f"{x:.6g}"
    if x.denominator == 1:
        return str(x.numerator)
    return f"{float(x):.6g}"
