"""The processing loop: journal backlog -> alerts -> decisions -> journal, off the request path.

Reads accepted payloads from the journal in id order (the backlog lives on disk,
so a storm fills disk, not memory), decides, and records each batch in one
transaction that also marks its payloads processed: a crash before the commit
replays the batch, a crash after it never does. The hand-over (handover.py) records
the batch and only then counts, logs and submits, so nothing runs that is not on record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from remediator.engine.decide import Decider
from remediator.engine.handover import HandOver
from remediator.engine.resolutions import ResolutionBoard
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, Decision, PayloadId
from remediator.receivers import PayloadError
from remediator.store import JournalUnavailable, PipelineJournal

log = get_logger("remediator.engine")

Normalizer = Callable[[bytes, PayloadId], list[Alert]]

MAX_BATCH_ALERTS = 5000
"""Alerts decided per transaction while draining a backlog with no webhook waiting: one commit
(one fsync) covers many decisions."""
INTAKE_BATCH_ALERTS = 500
"""Per transaction while webhooks wait: their acknowledgement shares the writer with this batch,
so it must not queue behind a large one. Intake comes before deciding."""


class Processor:
    def __init__(
        self,
        *,
        journal: PipelineJournal,
        decider: Decider,
        hand_over: HandOver,
        metrics: Metrics,
        normalizers: Mapping[str, Normalizer],
        batch_size: int = 256,
        resolutions: ResolutionBoard | None = None,
        on_resolved: Callable[[Alert], None] | None = None,
    ) -> None:
        self._resolutions = resolutions
        self._on_resolved = on_resolved
        self._journal = journal
        self._decider = decider
        self._hand_over = hand_over
        self._metrics = metrics
        self._normalizers = normalizers
        self._batch_size = batch_size
        self._alerts_per_payload = 1
        self._idle = asyncio.Event()
        self.running = False
        """True while `run` is running: /readyz is not ready without it (payloads would pile up)."""

    async def run(self) -> None:
        """Process the backlog forever. A failing journal write is retried; nothing is dropped."""
        self.running = True
        try:
            await self._run()
        finally:
            self.running = False  # readiness reports a processor that stopped, whatever stopped it

    async def _run(self) -> None:
        while True:
            try:
                n = await self.process_once()
            except JournalUnavailable as e:
                log.error("journal write failed; batch will be retried", error=str(e))
                await asyncio.sleep(1.0)
                continue
            self._metrics.queue_depth.set(self._journal.backlog())
            if n == 0:
                self._idle.set()
                await self._journal.wait_for_payloads(timeout_s=1.0)
            else:
                self._idle.clear()

    async def drained(self, timeout_s: float = 10.0) -> None:
        """Wait until the backlog is processed (tests, graceful shutdown)."""
        async with asyncio.timeout(timeout_s):
            # Polling is fine here: only tests and shutdown wait for this.
            while self._journal.backlog() > 0 or not self._idle.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.005)

    async def process_once(self) -> int:
        # Read about as many payloads as one batch will take, judging by the last batch's sizes.
        cap = INTAKE_BATCH_ALERTS if self._journal.intake_waiting() else MAX_BATCH_ALERTS
        limit = max(1, min(self._batch_size, cap // max(1, self._alerts_per_payload)))
        decisions: list[tuple[int, Decision]] = []
        try:
            # One turn: claim, decide with the guards caught up, record; handed over once committed.
            async with self._hand_over.turn() as turn:
                payloads = await turn.pending_payloads(limit)
                if not payloads:
                    return 0
                # Busy from here until the batch's executions are submitted: the backlog counter drops
                # at the commit, before they are, and `drained()` must not return in between.
                self._idle.clear()
                alerts: list[Alert] = []
                taken = 0
                for p in payloads:
                    if alerts and (
                        len(alerts) >= cap
                        or (len(alerts) >= INTAKE_BATCH_ALERTS and self._journal.intake_waiting())
                    ):
                        break
                    taken += 1
                    await asyncio.sleep(0)  # let waiting webhooks in: intake comes before deciding
                    try:
                        parsed = self._normalizers[p.source](p.body, p.id)
                    except (PayloadError, KeyError) as e:
                        # Validated before it was accepted, so a bug or a downgrade: keep the row, say so.
                        log.error(
                            "journaled payload cannot be normalized",
                            payload_id=p.id,
                            source=p.source,
                            error=str(e),
                        )
                        continue
                    for alert in parsed:
                        index = len(alerts)
                        alerts.append(alert)
                        if alert.status == "resolved":
                            if self._resolutions is not None:
                                self._resolutions.note(alert, received_at=p.received_at)
                            if self._on_resolved is not None:
                                self._on_resolved(alert)
                        for decision in await self._decider.decide(alert):
                            decisions.append((index, decision))
                payloads = payloads[:taken]
                self._alerts_per_payload = max(1, len(alerts) // taken)
                await turn.record_batch(
                    payload_ids=[p.id for p in payloads], alerts=alerts, decisions=decisions, from_alerts=True
                )
        except BaseException:
            # Not journaled (a bug, a cancellation, a failed commit): the guard state these decisions
            # took goes back.
            self._decider.reservations.release(d for _, d in decisions)
            raise
        return len(payloads)
