"""The resolution board: what verification waits for, bounded in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from remediator.engine.resolutions import ResolutionBoard
from remediator.model import Alert

T0 = datetime(2026, 11, 23, tzinfo=UTC)
FIRING = Alert(
    source="alertmanager", fingerprint="a", status="firing", labels={}, annotations={}, starts_at=T0
)


def test_a_resolution_counts_only_after_the_action_started() -> None:
    board = ResolutionBoard()
    board.note(FIRING, received_at=T0)
    assert not board.resolved_since("a", T0), "a firing alert resolves nothing"
    board.note(replace(FIRING, status="resolved"), received_at=T0 + timedelta(minutes=5))
    assert board.resolved_since("a", T0) and not board.resolved_since("a", T0 + timedelta(minutes=6))


def test_the_oldest_are_forgotten_past_the_bound() -> None:
    board = ResolutionBoard(max_entries=2)
    for fp in ("a", "b", "c"):
        board.note(replace(FIRING, fingerprint=fp, status="resolved"), received_at=T0)
    assert [board.resolved_since(fp, T0) for fp in ("a", "b", "c")] == [False, True, True]
