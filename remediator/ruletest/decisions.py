"""Expected decisions against the ones the journal recorded: pair them up, say which differ.

Matching ignores order: one alert matching two rules yields two decisions in rule-file order,
which is an implementation detail a test should not have to mirror; where time matters a test
pins it with `at:`. Pairing is in two passes. First the largest set of exact pairs (a bipartite
matching, so a loose expectation never steals the only decision a stricter one could match),
then, among what is left, expected and actual decisions of the same rule are paired, preferring
the same target and time, so a wrong outcome reads as one "expected / got" pair rather than a
missing and an unexpected decision.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from remediator.ruletest.schema import ExpectedDecision

_TIME_TOLERANCE_S = 0.001


@dataclass(frozen=True, slots=True, kw_only=True)
class GotDecision:
    """A decision as the journal recorded it, with how its execution ended (if it had one)."""

    at_s: float
    """Seconds since the start of the test."""
    rule: str
    target: str | None
    outcome: str
    reason: str
    execution: str | None
    """The execution's status, None when the decision did not act."""
    execution_error: str | None
    execution_summary: str


class RowKind(enum.Enum):
    OK = "ok"
    DIFFERS = "differs"
    MISSING = "missing"
    UNEXPECTED = "unexpected"
    UNCHECKED = "unchecked"
    """A decision of a test that does not check decisions (shown by --verbose)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    kind: RowKind
    expected: ExpectedDecision | None
    got: GotDecision | None


def matches(e: ExpectedDecision, g: GotDecision) -> bool:
    """Every field the expectation names holds for the decision."""
    if e.rule != g.rule or e.outcome.value != g.outcome:
        return False
    if e.target is not None and e.target != g.target:
        return False
    if e.at is not None and abs(e.at - g.at_s) > _TIME_TOLERANCE_S:
        return False
    if e.reason is not None and e.reason not in g.reason:
        return False
    if e.execution is not None and e.execution.value != g.execution:
        return False
    if e.execution_reason is not None:
        said = f"{g.execution_error or ''}\n{g.execution_summary}"
        if e.execution_reason not in said:
            return False
    return True


def align(expected: Sequence[ExpectedDecision], got: Sequence[GotDecision]) -> list[Row]:
    """Rows in the order the decisions were made; missing expectations last (by `at` when given)."""
    exact = _max_matching(expected, got)
    pair_of_got: dict[int, int] = {g: e for e, g in exact.items()}
    loose_pairs = _pair_by_rule(
        [i for i in range(len(expected)) if i not in exact],
        [j for j in range(len(got)) if j not in pair_of_got],
        expected,
        got,
    )
    rows: list[tuple[float, int, Row]] = []
    for j, g in enumerate(got):
        if j in pair_of_got:
            rows.append((g.at_s, j, Row(kind=RowKind.OK, expected=expected[pair_of_got[j]], got=g)))
        elif j in loose_pairs:
            rows.append((g.at_s, j, Row(kind=RowKind.DIFFERS, expected=expected[loose_pairs[j]], got=g)))
        else:
            rows.append((g.at_s, j, Row(kind=RowKind.UNEXPECTED, expected=None, got=g)))
    paired = set(exact) | set(loose_pairs.values())
    for i, e in enumerate(expected):
        if i not in paired:
            at = e.at if e.at is not None else float("inf")
            rows.append((at, len(got) + i, Row(kind=RowKind.MISSING, expected=e, got=None)))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r for _, _, r in rows]


def _max_matching(expected: Sequence[ExpectedDecision], got: Sequence[GotDecision]) -> dict[int, int]:
    """expected index -> got index, as many exact pairs as possible (augmenting paths; lists are short)."""
    fits = [[j for j, g in enumerate(got) if matches(e, g)] for e in expected]
    owner: dict[int, int] = {}  # got index -> expected index

    def augment(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        augment(i, set())
    return {i: j for j, i in owner.items()}


def _pair_by_rule(
    free_expected: list[int],
    free_got: list[int],
    expected: Sequence[ExpectedDecision],
    got: Sequence[GotDecision],
) -> dict[int, int]:
    """got index -> expected index for leftovers of the same rule, closest (target, time) first."""
    pairs: dict[int, int] = {}
    for i in free_expected:
        e = expected[i]
        candidates = [j for j in free_got if got[j].rule == e.rule and j not in pairs]
        if not candidates:
            continue

        def closeness(j: int, e: ExpectedDecision = e) -> tuple[int, int, int]:
            g = got[j]
            same_target = e.target is None or e.target == g.target
            same_time = e.at is None or abs(e.at - g.at_s) <= _TIME_TOLERANCE_S
            return (0 if same_target else 1, 0 if same_time else 1, j)

        pairs[min(candidates, key=closeness)] = i
    return pairs
