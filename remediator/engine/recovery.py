"""After a crash: executions left queued or running are marked interrupted and decided again.

With one journal writer that happens at start-up; with several replicas on a shared journal it
also happens on a timer, for the executions of a replica whose lease has expired.

Never replayed blindly. A running execution may already have changed the
cluster, so the guards (which count it, from the journal) decide again for the
same alert and rule; a queued one changed nothing and is simply re-decided: the
guards are told first (`Turn.interrupt_unfinished`), so its own decision holds no
cooldown, rate limit, dedup or in-flight slot against it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from remediator.engine.decide import Decider
from remediator.engine.handover import HandOver
from remediator.logs import get_logger
from remediator.model import AlertId, Decision
from remediator.rules import RuleSet
from remediator.store import JournalUnavailable, PipelineJournal

log = get_logger("remediator.engine")


async def recover_interrupted(
    *, journal: PipelineJournal, decider: Decider, rules: RuleSet, hand_over: HandOver
) -> list[Decision]:
    """One turn: take over what was interrupted and decide it again with the guards caught up."""
    decisions: list[tuple[AlertId | None, Decision]] = []
    async with hand_over.turn() as turn:
        interrupted = await turn.interrupt_unfinished()
        for ex in interrupted:
            was = "running" if ex.started else "queued"
            note = turn.guard_notes.get(ex.execution_id)
            log.warning(
                "execution interrupted by a restart",
                execution_id=ex.execution_id,
                rule=ex.rule,
                target=ex.target,
                was=was,
                guards=note,
            )
            alert = await turn.scope.get_alert(ex.alert_id) if ex.alert_id is not None else None
            rule = rules.get(ex.rule)
            if alert is None or rule is None:
                log.warning(
                    "interrupted execution not re-evaluated: its alert or rule is gone",
                    execution_id=ex.execution_id,
                    rule=ex.rule,
                )
                continue
            d = await decider.decide_rule(alert, rule)
            was += f" ({note})" if note else ""
            prefix = f"re-evaluated after execution #{ex.execution_id} was interrupted while {was}: "
            decisions.append((ex.alert_id, replace(d, reason=prefix + d.reason)))
        if decisions:
            await turn.record(decisions)
    return [d for _, d in decisions]


async def take_over_forever(
    *,
    journal: PipelineJournal,
    decider: Decider,
    rules: Callable[[], RuleSet],
    hand_over: HandOver,
    every_s: float,
) -> None:
    """With several replicas: now and then, take over the executions of replicas whose lease has
    expired (a crash, a lost node, a clean stop) and decide them again. A failing journal is retried."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await recover_interrupted(journal=journal, decider=decider, rules=rules(), hand_over=hand_over)
        except JournalUnavailable as e:
            log.warning("taking over interrupted executions failed; will retry", error=str(e))
