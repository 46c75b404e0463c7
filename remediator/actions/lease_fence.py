"""One attempt's lease fence: every Kubernetes write it sends must end before this replica's lease can.

Another replica takes an execution over as soon as its owner's lease has expired. The runner renews
the lease before each attempt (`still_running`), but an attempt reads before it writes, and every call
may wait for an API slot and then for its whole timeout: a write sent late in an attempt could still
be in flight, and land, after the lease expired and another replica took over. So before each write
(kube/fence.py) the fence checks that the lease, counted from when its last renewal was sent, covers
the write's whole timeout; if not it renews first, and if even a fresh lease cannot cover it, the
execution is deferred (try later) rather than risk a write landing after a take-over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from remediator.clock import Clock
from remediator.errors import TransientActionError, TryLaterError
from remediator.model import ExecutionId
from remediator.store import JournalUnavailable, PipelineJournal


class TakenOver(Exception):
    """The execution is no longer this replica's to run: stop without applying anything more."""


@dataclass(kw_only=True, eq=False)
class LeaseFence:
    """Mutable on purpose: each renewal moves `covered_until` (on the clock's monotonic time)."""

    journal: PipelineJournal
    clock: Clock
    execution_id: ExecutionId
    action: str
    covered_until: float = -math.inf

    async def renew(self) -> None:
        """Renew the lease and check the execution is still this replica's; TakenOver if not."""
        sent_at = self.clock.monotonic()  # the lease runs from no earlier than this
        try:
            ours = await self.journal.still_running(self.execution_id)
        except JournalUnavailable as e:
            raise TransientActionError(f"not acting without the journal: {e}") from e
        if not ours:
            raise TakenOver(f"taken over by another replica before {self.action}: not applied")
        lease_s = self.journal.write_lease_s
        self.covered_until = math.inf if lease_s is None else sent_at + lease_s

    async def __call__(self, within_s: float) -> None:
        """Return once a write of at most `within_s` would end inside the lease (renewing if needed)."""
        if self.clock.monotonic() + within_s <= self.covered_until:
            return
        await self.renew()
        if self.clock.monotonic() + within_s > self.covered_until:
            raise TryLaterError(
                f"the journal lease ({self.journal.write_lease_s:g}s) would not cover a {within_s:g}s"
                " Kubernetes write: not sent, so it cannot land after another replica took over"
            )
