"""Evidence capture around each execution: what the cluster showed before acting and after each action.

The runner calls `capture` before the first action of an execution (the state the incident opened
in, as remediator first saw it), after each action (what the change did) and when verification
gives up (the state a human takes over). Each capture reads the target's pods, events, failing
pods' logs and rollout history (actions/kube/evidence.py, bounded and redacted) and writes them to
the journal, where the incident timeline and the postmortem draft find them. It runs under a
timeout and never raises: evidence must not delay or fail a remediation.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from remediator.actions.kube.evidence import EvidenceBounds
from remediator.logs import get_logger
from remediator.model import Decision, ExecutionId, Target

log = get_logger("remediator.actions.evidence")


class EvidenceSource(Protocol):
    async def evidence(self, target: Target, bounds: EvidenceBounds) -> dict[str, Any]: ...


class EvidenceJournal(Protocol):
    async def record_evidence(
        self,
        *,
        fingerprint: str,
        starts_at: datetime,
        execution_id: ExecutionId | None,
        target: str,
        moment: str,
        body: dict[str, Any],
    ) -> None: ...


class EvidenceRecorder:
    def __init__(
        self,
        *,
        source: EvidenceSource,
        journal: EvidenceJournal,
        bounds: EvidenceBounds | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self._source = source
        self._journal = journal
        self._bounds = bounds or EvidenceBounds()
        self._timeout_s = timeout_s

    async def capture(self, decision: Decision, *, execution_id: ExecutionId | None, moment: str) -> None:
        """Read and journal the target's evidence now; log (never raise) when it cannot be done."""
        if decision.target is None:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                body = await self._source.evidence(decision.target, self._bounds)
                body["bounds"] = asdict(self._bounds)
                await self._journal.record_evidence(
                    fingerprint=decision.alert.fingerprint,
                    starts_at=decision.alert.starts_at,
                    execution_id=execution_id,
                    target=decision.target.key,
                    moment=moment,
                    body=body,
                )
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("evidence not captured", moment=moment, error=f"{type(e).__name__}: {e}")
