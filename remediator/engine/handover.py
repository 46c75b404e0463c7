"""The hand-over: record, count, log, submit. The one way a decision leaves the decision path.

Every decision, whether the processor made it from an alert, a human asked for it (a manual
trigger, an approval) or crash recovery re-made it, goes through here: journaled first (so
nothing runs that is not on record), then counted, logged and, when it acts, handed to the
executor.

Decisions made from alerts also count as rule matches, and in a storm their expected repeats
(cooldown, in flight, duplicate...) are summarized in one line per batch instead of one each;
those a human asked for are always logged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from remediator.engine.protocols import Executor
from remediator.engine.reservations import Reservations
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, AlertId, Decision, DecisionId, ExecutionId, Outcome, PayloadId
from remediator.store import PipelineJournal

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


class HandOver:
    def __init__(
        self,
        *,
        journal: PipelineJournal,
        executor: Executor,
        metrics: Metrics,
        reservations: Reservations | None = None,
    ) -> None:
        self._reservations = reservations if reservations is not None else Reservations()
        """The decider's: what the decisions written here took from the guards is settled by a commit
        and given back by a failed write, so guard state never disagrees with the journal."""
        self._journal = journal
        self._executor = executor
        self._metrics = metrics
        self._listeners: list[Callable[[Sequence[Decision]], None]] = []

    def on_recorded(self, listener: Callable[[Sequence[Decision]], None]) -> None:
        """Call `listener` with every batch of decisions once journaled (deferred ones wait for a sweep)."""
        self._listeners.append(listener)

    async def record_batch(
        self,
        *,
        payload_ids: Sequence[PayloadId],
        alerts: Sequence[Alert],
        decisions: Sequence[tuple[int, Decision]],
        from_alerts: bool,
    ) -> list[Recorded]:
        """Journal new alerts and their decisions (alert index, decision) in one transaction, the
        payloads marked processed, then hand the decisions over."""
        try:
            batch = await self._journal.record_batch(
                payload_ids=payload_ids, alerts=alerts, decisions=decisions
            )
        except BaseException:
            self._reservations.release(d for _, d in decisions)
            raise
        self._reservations.settle(d for _, d in decisions)
        recorded = [
            Recorded(
                decision=d,
                alert_id=batch.alert_ids[index],
                decision_id=batch.decision_ids[i],
                execution_id=batch.execution_ids.get(i),
            )
            for i, (index, d) in enumerate(decisions)
        ]
        self._release(recorded, from_alerts=from_alerts, payloads=len(payload_ids))
        return recorded

    async def record(self, decisions: Sequence[tuple[AlertId | None, Decision]]) -> list[Recorded]:
        """Journal decisions on alerts already in the journal (recovery, approvals), then hand them over."""
        try:
            ids = await self._journal.record_decisions(decisions)
        except BaseException:
            self._reservations.release(d for _, d in decisions)
            raise
        self._reservations.settle(d for _, d in decisions)
        recorded = [
            Recorded(decision=d, alert_id=alert_id, decision_id=decision_id, execution_id=execution_id)
            for (alert_id, d), (decision_id, execution_id) in zip(decisions, ids, strict=True)
        ]
        self._release(recorded, from_alerts=False)
        return recorded

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> Recorded | None:
        """Journal the decision that ends a deferral (and close it, in one transaction), then hand it
        over. None when the deferral was no longer ours (cancelled or shed meanwhile)."""
        try:
            ids = await self._journal.settle_deferral(
                deferral_id, worker=worker, decision=decision, alert_id=alert_id
            )
        except BaseException:
            self._reservations.release([decision])
            raise
        if ids is None:
            self._reservations.release([decision])  # not recorded: its guard state is given back
            return None
        self._reservations.settle([decision])
        recorded = Recorded(decision=decision, alert_id=alert_id, decision_id=ids[0], execution_id=ids[1])
        self._release([recorded], from_alerts=False)
        return recorded

    def _release(self, recorded: Sequence[Recorded], *, from_alerts: bool, payloads: int = 0) -> None:
        debug = _DEBUG.isEnabledFor(logging.DEBUG)
        quiet: Counter[tuple[str, str, str]] = Counter()
        for r in recorded:
            d = r.decision
            action = "+".join(a.kind for a in d.actions)
            if from_alerts:
                self._metrics.rule_matches.labels(rule=d.rule).inc()
            self._metrics.decisions.labels(rule=d.rule, action=action, outcome=d.outcome.value).inc()
            if r.execution_id is not None and d.acts:
                self._executor.submit(r.execution_id, d)
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
                log.debug("decided", **fields)
            else:
                log.info("decided", **fields)
        if quiet:
            _log_quiet(quiet, payloads=payloads)
        if self._listeners and recorded:
            decisions = [r.decision for r in recorded]
            for listener in self._listeners:
                listener(decisions)


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
