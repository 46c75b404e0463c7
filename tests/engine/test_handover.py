"""The hand-over: journal first, then count, log and submit; storm repeats summarized, a human's logged."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

from structlog.testing import capture_logs

from remediator.engine.handover import HandOver, with_alert_id
from remediator.metrics import Metrics
from remediator.model import (
    ActionSpec,
    Alert,
    AlertId,
    Decision,
    DecisionId,
    ExecutionId,
    Outcome,
    PayloadId,
    RuleName,
    Target,
)
from remediator.store import GuardFeed, PipelineJournal, RecordedBatch

T0 = datetime(2026, 11, 23, tzinfo=UTC)
ALERT = Alert(
    source="alertmanager", fingerprint="fp", status="firing", labels={}, annotations={}, starts_at=T0
)
TARGET = Target(kind="Deployment", namespace="shop", name="checkout")


def decision(outcome: Outcome, rule: str = "r1") -> Decision:
    return Decision(
        alert=ALERT,
        rule=RuleName(rule),
        target=TARGET,
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=outcome,
        reason=outcome.value,
        dry_run=outcome is Outcome.DRY_RUN,
        decided_at=T0,
    )


class FakeJournal:
    """Records what was written; an execution for each acting decision, as the journal creates them.
    Its own decision scope, with nothing to catch up on (one writer)."""

    def __init__(self) -> None:
        self.batches: list[Sequence[tuple[int, Decision]]] = []
        self.feed = GuardFeed()

    @contextlib.asynccontextmanager
    async def deciding(self) -> AsyncIterator[FakeJournal]:
        yield self

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
    ) -> RecordedBatch:
        self.batches.append(decisions)
        return RecordedBatch(
            alert_ids=tuple(AlertId(100 + i) for i in range(len(alerts))),
            decision_ids=tuple(DecisionId(i + 1) for i in range(len(decisions))),
            execution_ids={i: ExecutionId(50 + i) for i, (_, d) in enumerate(decisions) if d.acts},
        )

    async def record_decisions(
        self, decisions: Sequence[tuple[AlertId | None, Decision]]
    ) -> list[tuple[DecisionId, ExecutionId | None]]:
        return [
            (DecisionId(7 + i), ExecutionId(70 + i) if d.acts else None) for i, (_, d) in enumerate(decisions)
        ]


class FakeExecutor:
    def __init__(self) -> None:
        self.submitted: list[tuple[ExecutionId, Decision]] = []

    def submit(self, execution_id: ExecutionId, decision: Decision) -> None:
        self.submitted.append((execution_id, decision))


def hand_over() -> tuple[HandOver, FakeJournal, FakeExecutor, Metrics]:
    journal, executor, metrics = FakeJournal(), FakeExecutor(), Metrics()
    return (
        HandOver(journal=cast(PipelineJournal, journal), executor=executor, metrics=metrics),
        journal,
        executor,
        metrics,
    )


def _count(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_batch_is_journaled_then_acting_decisions_are_submitted_and_counted() -> None:
    handover, journal, executor, metrics = hand_over()
    decisions = [
        (0, decision(Outcome.ACT)),
        (0, decision(Outcome.COOLDOWN, "r2")),
        (1, decision(Outcome.DRY_RUN, "r3")),
    ]
    recorded = await handover.record_batch(
        payload_ids=[PayloadId(1)], alerts=[ALERT, ALERT], decisions=decisions, from_alerts=True
    )
    assert journal.batches == [decisions]
    assert [(e, d.rule) for e, d in executor.submitted] == [(50, "r1"), (52, "r3")]
    assert [r.alert_id for r in recorded] == [100, 100, 101] and recorded[1].execution_id is None
    assert _count(metrics, "remediator_rule_matches_total", rule="r2") == 1
    labels = {"rule": "r1", "action": "rollout_restart", "outcome": "act"}
    assert _count(metrics, "remediator_decisions_total", **labels) == 1


async def test_storm_repeats_from_alerts_are_summarized_a_humans_are_not() -> None:
    handover, *_ = hand_over()
    repeats = [(0, decision(Outcome.COOLDOWN)) for _ in range(3)]
    with capture_logs() as logs:
        await handover.record_batch(
            payload_ids=[PayloadId(1)], alerts=[ALERT], decisions=repeats, from_alerts=True
        )
    events: list[dict[str, Any]] = [e for e in logs if e["event"] in ("decided", "repeated skips in batch")]
    assert [e["event"] for e in events] == ["repeated skips in batch"]
    assert events[0]["skipped"] == [f"r1 on {TARGET.key}: cooldown x3"] and events[0]["total"] == 3
    with capture_logs() as logs:
        await handover.record([(AlertId(1), decision(Outcome.COOLDOWN))])
    assert [e["outcome"] for e in logs if e["event"] == "decided"] == ["cooldown"]


async def test_recorded_decisions_of_humans_and_recovery_are_submitted_too() -> None:
    handover, _, executor, metrics = hand_over()
    [r] = await handover.record([(AlertId(3), decision(Outcome.ACT))])
    assert (r.decision_id, r.execution_id, r.alert_id) == (7, 70, 3)
    assert [e for e, _ in executor.submitted] == [70]
    assert _count(metrics, "remediator_rule_matches_total", rule="r1") == 0, (
        "a human's trigger is not a match"
    )


def test_a_decision_handed_over_with_its_alert_id_is_the_decision_replaced() -> None:
    full = replace(
        decision(Outcome.ACT),
        id=DecisionId(9),
        severity="P1",
        skipped_guards=frozenset({"cooldown"}),
    )
    for d in (decision(Outcome.DRY_RUN), full):
        copied = with_alert_id(d, AlertId(42))
        assert copied == replace(d, alert_id=AlertId(42))
        assert copied.alert_id == 42 and d.alert_id is None
