"""After a crash: executions left queued or running are marked interrupted and decided again.

Never replayed blindly. A running execution may already have changed the
cluster, so the guards (which count it, from the journal) decide again for the
same alert and rule; a queued one changed nothing and is simply re-decided.
"""

from __future__ import annotations

from dataclasses import replace

from remediator.engine.decide import Decider
from remediator.engine.handover import HandOver
from remediator.logs import get_logger
from remediator.model import AlertId, Decision
from remediator.rules import RuleSet
from remediator.store import PipelineJournal

log = get_logger("remediator.engine")


async def recover_interrupted(
    *, journal: PipelineJournal, decider: Decider, rules: RuleSet, hand_over: HandOver
) -> list[Decision]:
    interrupted = await journal.interrupt_unfinished()
    decisions: list[tuple[AlertId | None, Decision]] = []
    for ex in interrupted:
        was = "running" if ex.started else "queued"
        log.warning(
            "execution interrupted by a restart",
            execution_id=ex.execution_id,
            rule=ex.rule,
            target=ex.target,
            was=was,
        )
        alert = await journal.get_alert(ex.alert_id) if ex.alert_id is not None else None
        rule = rules.get(ex.rule)
        if alert is None or rule is None:
            log.warning(
                "interrupted execution not re-evaluated: its alert or rule is gone",
                execution_id=ex.execution_id,
                rule=ex.rule,
            )
            continue
        d = await decider.decide_rule(alert, rule)
        prefix = f"re-evaluated after execution #{ex.execution_id} was interrupted while {was}: "
        decisions.append((ex.alert_id, replace(d, reason=prefix + d.reason)))
    if not decisions:
        return []
    await hand_over.record(decisions)
    return [d for _, d in decisions]
