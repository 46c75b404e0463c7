"""Decision turns take turns: a decision is checked and recorded against every decision before it.

A guard may wait on the cluster or Prometheus between the cooldown check and the record (the target
guard reads the workload). If another turn (the deferral sweep, a manual trigger, an approval) could
decide meanwhile, both would pass the cooldown and in-flight checks and act on the same target.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from remediator.clock import FakeClock
from remediator.engine import Decider, Proposal, Verdict
from remediator.engine.handover import HandOver
from remediator.engine.mode import Mode
from remediator.guards.cooldown import CooldownGuard
from remediator.guards.inflight import InFlightGuard
from remediator.metrics import Metrics
from remediator.model import Alert, Decision, ExecutionId, Outcome
from remediator.rules import RuleBook, load_rules_text
from remediator.store.sqlite import SqliteJournal

T0 = datetime(2026, 11, 23, tzinfo=UTC)
RULES = """
rules:
  - name: restart-on-errors
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    guards: {cooldown: 15m}
"""


def alert(fingerprint: str) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=fingerprint,
        status="firing",
        labels={"alertname": "HighErrorRate", "namespace": "shop", "deployment": "checkout"},
        annotations={},
        starts_at=T0,
    )


class AsksTheCluster:
    """Last in the chain, like the target guard: the first decision waits here until let go."""

    name = "asks_the_cluster"

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def check(self, proposal: Proposal) -> Verdict | None:
        if not self.asked.is_set():
            self.asked.set()
            await self.answer.wait()
        return None

    def record(self, decision: Decision) -> None:
        return None


class Submitted:
    def __init__(self) -> None:
        self.executions: list[tuple[ExecutionId, Decision]] = []

    def submit(self, execution_id: ExecutionId, decision: Decision) -> None:
        self.executions.append((execution_id, decision))


async def test_a_second_turn_decides_after_the_first_recorded_so_one_target_is_acted_on_once(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    rules = RuleBook(load_rules_text(RULES))
    slow = AsksTheCluster()
    decider = Decider(
        rules=rules.current,
        guards=[CooldownGuard(default_s=900, clock=clock), InFlightGuard(), slow],
        mode=Mode(),
        clock=clock,
    )
    executor = Submitted()
    async with SqliteJournal.open(tmp_path / "journal.sqlite", clock=clock) as journal:
        hand_over = HandOver(
            journal=journal, executor=executor, metrics=Metrics(), reservations=decider.reservations
        )

        async def decide(fingerprint: str) -> Decision:
            [rule] = rules.current().rules
            async with hand_over.turn() as turn:
                d = await decider.decide_rule(alert(fingerprint), rule)
                await turn.record_batch(
                    payload_ids=(), alerts=[d.alert], decisions=[(0, d)], from_alerts=False
                )
            return d

        async with asyncio.TaskGroup() as tg:
            first = tg.create_task(decide("from-the-processor"))
            await slow.asked.wait()  # the first turn waits on the cluster, its guard state not taken
            second = tg.create_task(decide("from-a-deferral-sweep"))
            for _ in range(20):
                await asyncio.sleep(0)  # the second turn gets every chance to decide now
            slow.answer.set()
    assert first.result().outcome is Outcome.ACT
    assert second.result().outcome is Outcome.COOLDOWN
    assert [d.alert.fingerprint for _, d in executor.executions] == ["from-the-processor"]
