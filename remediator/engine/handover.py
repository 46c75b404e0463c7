"""The hand-over: record, count, log, submit. The one way a decision leaves the decision path.

Every decision, whether the processor made it from an alert, a human asked for it (a manual
trigger, an approval) or crash recovery re-made it, goes through here: journaled first (so
nothing runs that is not on record), then counted, logged and, when it acts, handed to the
executor.

Decisions are made and recorded inside a turn (`turn()`): the journal's decision transaction,
which starts by catching the guards up with what other replicas wrote, and commits the decisions
before any of them is handed to the executor. With several replicas, turns take turns across them,
so guard state is read and reserved in the transaction that records the decision. The guard state
the decisions took is settled by the commit, and given back if the turn fails.

Decisions made from alerts also count as rule matches, and in a storm their expected repeats
(cooldown, in flight, duplicate...) are summarized in one line per batch instead of one each;
those a human asked for are always logged.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, fields

from remediator.engine.protocols import Executor
from remediator.engine.reservations import Reservations
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, AlertId, Decision, DecisionId, ExecutionId, Outcome, PayloadId
from remediator.store import DecisionScope, GuardFeed, InterruptedExecution, PipelineJournal, StoredPayload

log = get_logger("remediator.engine")
_DEBUG = logging.getLogger("remediator.engine")

QUIET = frozenset(
    {
        Outcome.COOLDOWN,
        Outcome.IN_FLIGHT,
        Outcome.RESOLVED,
        Outcome.DUPLICATE,
        Outcome.RATE_LIMITED,
        Outcome.CONCURRENCY_LIMITED,
        Outcome.DEFERRED,
        Outcome.BREAKER_OPEN,
        Outcome.PAUSED,
    }
)
"""Outcomes expected by the thousand in a storm: one summary line per batch, not one line each."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """A journaled decision and the execution it started (if it acts)."""

    decision: Decision
    alert_id: AlertId | None
    decision_id: DecisionId
    execution_id: ExecutionId | None


@dataclass(kw_only=True)
class Turn:
    """One decision turn: claim and read through it, decide, record through it. What it records is
    handed over when the turn ends and its transaction has committed."""

    scope: DecisionScope
    recorded: list[tuple[list[Recorded], bool, int]] = field(default_factory=list)
    unrecorded: list[Decision] = field(default_factory=list)
    """Decided but not written (a deferral cancelled meanwhile): their guard state goes back."""
    on_interrupted: Callable[[InterruptedExecution], str] | None = None
    guard_notes: dict[ExecutionId, str] = field(default_factory=dict)
    """What telling the guards of an interrupted execution changed, worth its re-decision's reason."""

    async def interrupt_unfinished(self) -> list[InterruptedExecution]:
        """Mark the executions whose runner is gone interrupted, in the turn, and tell the guards
        before anything is decided again (so they agree with the journal: see `SharedGuards`)."""
        interrupted = await self.scope.interrupt_unfinished()
        if self.on_interrupted is not None:
            for ex in interrupted:
                note = self.on_interrupted(ex)
                if note:
                    self.guard_notes[ex.execution_id] = note
        return interrupted

    async def pending_payloads(self, limit: int) -> list[StoredPayload]:
        return await self.scope.pending_payloads(limit)

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
        from_alerts: bool,
    ) -> list[Recorded]:
        """Journal new alerts and their decisions (alert index, decision), and the payloads marked
        processed, in the turn's transaction."""
        batch = await self.scope.record_batch(payload_ids=payload_ids, alerts=alerts, decisions=decisions)
        recorded = [
            Recorded(
                decision=d,
                alert_id=batch.alert_ids[index],
                decision_id=batch.decision_ids[i],
                execution_id=batch.execution_ids.get(i),
            )
            for i, (index, d) in enumerate(decisions)
        ]
        self.recorded.append((recorded, from_alerts, len(payload_ids)))
        return recorded

    async def record(self, decisions: Sequence[tuple[AlertId | None, Decision]]) -> list[Recorded]:
        """Journal decisions on alerts already in the journal (recovery, approvals) in the turn."""
        ids = await self.scope.record_decisions(decisions)
        recorded = [
            Recorded(decision=d, alert_id=alert_id, decision_id=decision_id, execution_id=execution_id)
            for (alert_id, d), (decision_id, execution_id) in zip(decisions, ids, strict=True)
        ]
        self.recorded.append((recorded, False, 0))
        return recorded

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> Recorded | None:
        """Journal the decision that ends a deferral and close it, in the turn. None when the deferral
        was no longer ours (cancelled or shed meanwhile)."""
        ids = await self.scope.settle_deferral(
            deferral_id, worker=worker, decision=decision, alert_id=alert_id
        )
        if ids is None:
            self.unrecorded.append(decision)
            return None
        recorded = Recorded(decision=decision, alert_id=alert_id, decision_id=ids[0], execution_id=ids[1])
        self.recorded.append(([recorded], False, 0))
        return recorded

    def decisions(self) -> list[Decision]:
        return [r.decision for batch, _, _ in self.recorded for r in batch]


class HandOver:
    def __init__(
        self,
        *,
        journal: PipelineJournal,
        executor: Executor,
        metrics: Metrics,
        reservations: Reservations | None = None,
        catch_up: Callable[[GuardFeed], None] | None = None,
        interrupted: Callable[[InterruptedExecution], str] | None = None,
    ) -> None:
        self._reservations = reservations if reservations is not None else Reservations()
        """The decider's: what the decisions written here took from the guards is settled by a commit
        and given back by a failed write, so guard state never disagrees with the journal."""
        self._journal = journal
        self._executor = executor
        self._metrics = metrics
        self._catch_up = catch_up
        """Applies the journal's guard feed (what other replicas wrote) at the start of every turn."""
        self._interrupted = interrupted
        """Tells the guards of each execution a turn marks interrupted (`Turn.interrupt_unfinished`)."""
        self._listeners: list[Callable[[Sequence[Recorded]], None]] = []

    def on_recorded(self, listener: Callable[[Sequence[Recorded]], None]) -> None:
        """Call `listener` with every batch of decisions once journaled (deferred ones wait for a sweep,
        incidents open and close)."""
        self._listeners.append(listener)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Turn]:
        """A decision turn: the guards caught up with the journal first; decide and record inside;
        once it has committed, the decisions are counted, logged and handed to the executor."""
        turn: Turn | None = None
        try:
            async with self._journal.deciding() as scope:
                if self._catch_up is not None:
                    self._catch_up(scope.feed)
                turn = Turn(scope=scope, on_interrupted=self._interrupted)
                yield turn
        except BaseException:
            if turn is not None:
                self._reservations.release([*turn.decisions(), *turn.unrecorded])
            raise
        self._reservations.release(turn.unrecorded)
        self._reservations.settle(turn.decisions())
        for recorded, from_alerts, payloads in turn.recorded:
            self._release(recorded, from_alerts=from_alerts, payloads=payloads)

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
        from_alerts: bool,
    ) -> list[Recorded]:
        """Decisions made outside a turn, recorded in a turn of their own (see `Turn.record_batch`)."""
        try:
            async with self.turn() as turn:
                return await turn.record_batch(
                    payload_ids=payload_ids, alerts=alerts, decisions=decisions, from_alerts=from_alerts
                )
        except BaseException:
            self._reservations.release(d for _, d in decisions)
            raise

    async def record(self, decisions: Sequence[tuple[AlertId | None, Decision]]) -> list[Recorded]:
        """Decisions made outside a turn, recorded in a turn of their own (see `Turn.record`)."""
        try:
            async with self.turn() as turn:
                return await turn.record(decisions)
        except BaseException:
            self._reservations.release(d for _, d in decisions)
            raise

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> Recorded | None:
        """A deferral's decision made outside a turn, settled in a turn of its own."""
        try:
            async with self.turn() as turn:
                return await turn.settle_deferral(
                    deferral_id, worker=worker, decision=decision, alert_id=alert_id
                )
        except BaseException:
            self._reservations.release([decision])
            raise

    def _release(self, recorded: Sequence[Recorded], *, from_alerts: bool, payloads: int = 0) -> None:
        debug = _DEBUG.isEnabledFor(logging.DEBUG)
        said = log.bind()  # bound once for the batch, not once a line
        quiet: Counter[tuple[str, str, str]] = Counter()
        # Counted per batch: one increment per series, not one per decision (a batch is thousands).
        counts: Counter[tuple[str, str, str]] = Counter()
        for r in recorded:
            d = r.decision
            counts[(d.rule, "+".join(a.kind for a in d.actions), d.outcome.value)] += 1
            if r.execution_id is not None and d.acts:
                # With its alert's id: an execution refused try-later is deferred again on that alert.
                run = d if d.alert_id is not None or r.alert_id is None else with_alert_id(d, r.alert_id)
                self._executor.submit(r.execution_id, run)
            repeat = from_alerts and d.outcome in QUIET
            if repeat:
                quiet[(d.rule, d.target.key if d.target else "-", d.outcome.value)] += 1
                if not debug:
                    continue
            fields = {
                "alert": d.alert.fingerprint,
                "alertname": d.alert.name,
                "rule": d.rule,
                "target": d.target.key if d.target else None,
                "outcome": d.outcome.value,
                "reason": d.reason,
                "decision_id": r.decision_id,
                "alert_id": r.alert_id,
            }
            if repeat:
                said.debug("decided", **fields)
            else:
                said.info("decided", **fields)
        matches: Counter[str] = Counter()
        for (rule, action, outcome), n in counts.items():
            self._metrics.decisions.labels(rule=rule, action=action, outcome=outcome).inc(n)
            matches[rule] += n
        if from_alerts:
            for rule, n in matches.items():
                self._metrics.rule_matches.labels(rule=rule).inc(n)
        if quiet:
            _log_quiet(quiet, payloads=payloads)
        if self._listeners and recorded:
            for listener in self._listeners:
                listener(recorded)


_CARRIED = tuple(f.name for f in fields(Decision) if f.init and f.name != "alert_id")


def with_alert_id(d: Decision, alert_id: AlertId) -> Decision:
    """`dataclasses.replace(d, alert_id=alert_id)` at half its cost (the fields to carry are listed
    once, not looked up at each call): it runs for every acting decision of a batch."""
    carried = {name: getattr(d, name) for name in _CARRIED}
    return Decision(**carried, alert_id=alert_id)


_QUIET_SHOWN = 20


def _log_quiet(quiet: Counter[tuple[str, str, str]], *, payloads: int) -> None:
    """One line per batch for the skips a storm repeats, naming each rule and target (the most
    repeated first, at most 20, so a storm over 500 targets stays one readable line)."""
    top = quiet.most_common(_QUIET_SHOWN)
    skipped = [f"{rule} on {target}: {outcome} x{n}" for (rule, target, outcome), n in top]
    extra = {"more": len(quiet) - len(top)} if len(quiet) > len(top) else {}
    log.info(
        "repeated skips in batch", skipped=skipped, total=sum(quiet.values()), payloads=payloads, **extra
    )
