"""What `remediator test` prints: one line per test, a diff for each failure, a summary line.

A failing test shows its decisions as an aligned table in which an expectation that was not
met sits right above the decision that was made instead (`expected` / `got`), so the rule, the
expected and the actual outcome, and the engine's reason read in one glance; then every
cluster field that differs. Fields an expectation leaves open show as `*`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediator.durations import format_duration
from remediator.errors import ConfigError
from remediator.ruletest.cluster import FieldDiff
from remediator.ruletest.decisions import GotDecision, Row, RowKind
from remediator.ruletest.loader import RuleTestCase
from remediator.ruletest.schema import ExpectedDecision

_HEADER = ("", "at", "rule", "target", "outcome", "execution", "reason")
_MARKS = {
    RowKind.OK: "ok",
    RowKind.MISSING: "missing",
    RowKind.UNEXPECTED: "unexpected",
    RowKind.UNCHECKED: "",
}
_LOG_SKIP = frozenset({"event", "log_level", "timestamp", "logger"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    case: RuleTestCase
    got: list[GotDecision] = field(default_factory=list)
    rows: list[Row] | None = None
    """The decision comparison; None when the test does not check decisions."""
    cluster_diffs: list[FieldDiff] = field(default_factory=list)
    request_diffs: list[str] = field(default_factory=list)
    """Requests to stub services that differ from `expect.requests` (expected / got line pairs)."""
    outside_diffs: list[str] = field(default_factory=list)
    """Pages, messages and incidents that differ from `expect.pages`, `notifications`, `incidents`."""
    error: str | None = None
    """The run itself failed (the engine did not settle, an internal error)."""
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        rows_ok = self.rows is None or all(r.kind is RowKind.OK for r in self.rows)
        diffs = self.cluster_diffs or self.request_diffs or self.outside_diffs
        return self.error is None and rows_ok and not diffs


def file_errors(path: Path, errors: Sequence[ConfigError]) -> list[str]:
    return [f"{path}: invalid test file", *(f"  {e}" for e in errors)]


def case_lines(result: CaseResult, *, verbose: bool) -> list[str]:
    case = result.case
    if result.passed:
        lines = [f"  ok    {case.name}"]
        if verbose:
            lines += _section("decisions:", _table(_rows_for(result)))
        return lines
    lines = [f"  FAIL  {case.name}  ({case.path}:{case.line})"]
    if result.error is not None:
        lines += _section("error:", result.error.splitlines())
    if result.rows is not None and (verbose or any(r.kind is not RowKind.OK for r in result.rows)):
        lines += _section("decisions:", _table(result.rows))
    elif result.error is None and verbose:
        lines += _section("decisions:", _table(_rows_for(result)))
    if result.cluster_diffs:
        lines += _section("cluster:", [str(d) for d in result.cluster_diffs])
    if result.request_diffs:
        lines += _section("requests:", result.request_diffs)
    if result.outside_diffs:
        lines += _section("pages, notifications, incidents:", result.outside_diffs)
    if verbose and result.log:
        lines += _section("engine log:", [_log_line(entry) for entry in result.log])
    return lines


def summary(*, passed: int, failed: int, invalid: int) -> str:
    line = f"{passed} passed, {failed} failed"
    if invalid:
        line += f", {invalid} invalid test file{'s' if invalid != 1 else ''}"
    return line


def _rows_for(result: CaseResult) -> list[Row]:
    if result.rows is not None:
        return result.rows
    return [Row(kind=RowKind.UNCHECKED, expected=None, got=g) for g in result.got]


def _section(title: str, body: list[str]) -> list[str]:
    return [f"        {title}", *(f"          {line}" for line in body)]


def _table(rows: Sequence[Row]) -> list[str]:
    if not rows:
        return ["(no decisions)"]
    cells: list[tuple[str, ...]] = [_HEADER]
    for row in rows:
        if row.kind is RowKind.DIFFERS:
            assert row.expected is not None and row.got is not None
            cells.append(("expected", *_expected_cells(row.expected)))
            cells.append(("got", *_got_cells(row.got)))
        elif row.got is not None:
            cells.append((_MARKS[row.kind], *_got_cells(row.got)))
        else:
            assert row.expected is not None
            cells.append((_MARKS[row.kind], *_expected_cells(row.expected)))
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADER) - 1)]
    return ["  ".join([*(c[i].ljust(widths[i]) for i in range(len(widths))), c[-1]]).rstrip() for c in cells]


def _expected_cells(e: ExpectedDecision) -> tuple[str, ...]:
    text = []
    if e.reason is not None:
        text.append(f"~ {e.reason!r}")
    if e.execution_reason is not None:
        text.append(f"execution ~ {e.execution_reason!r}")
    return (
        _time(e.at) if e.at is not None else "*",
        e.rule,
        e.target or "*",
        e.outcome.value,
        e.execution.value if e.execution is not None else "*",
        "; ".join(text),
    )


def _got_cells(g: GotDecision) -> tuple[str, ...]:
    text = g.reason
    if g.execution_error:
        text += f" | execution: {g.execution_error}"
    return (_time(g.at_s), g.rule, g.target or "-", g.outcome, g.execution or "-", text)


def _time(seconds: float) -> str:
    return "0s" if seconds == 0 else format_duration(seconds)


def _log_line(entry: dict[str, Any]) -> str:
    fields = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _LOG_SKIP)
    return f"{entry.get('log_level', 'info'):<7} {entry.get('event', '')}  {fields}".rstrip()
