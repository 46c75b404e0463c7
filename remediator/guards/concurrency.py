"""Concurrency limits: actions in flight globally and per namespace.

The in-flight guard keeps one action per target; this one keeps the total small,
so a wide outage gets a few careful changes at a time. Dry-run plans only read,
so they are not counted.
"""

from __future__ import annotations

from collections import Counter

from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome


class ConcurrencyGuard:
    name = "concurrency"

    def __init__(self, *, max_global: int, max_per_namespace: int) -> None:
        self._max_global = max_global
        self._max_ns = max_per_namespace
        self._global = 0
        self._per_ns: Counter[str] = Counter()

    async def check(self, proposal: Proposal) -> Verdict | None:
        if proposal.dry_run:
            return None
        if self._global >= self._max_global:
            return Verdict(
                outcome=Outcome.CONCURRENCY_LIMITED,
                reason=f"concurrency: {self._global} actions in flight (max {self._max_global})",
                transient=True,
            )
        ns = proposal.target.namespace
        if self._per_ns[ns] >= self._max_ns:
            return Verdict(
                outcome=Outcome.CONCURRENCY_LIMITED,
                reason=f"concurrency: {self._per_ns[ns]} actions in flight in namespace {ns!r} "
                f"(max {self._max_ns})",
                transient=True,
            )
        return None

    def record(self, decision: Decision) -> Undo | None:
        if decision.target is None or decision.dry_run:
            return None
        self._global += 1
        self._per_ns[decision.target.namespace] += 1
        return lambda: self.release(decision)

    def release(self, decision: Decision) -> None:
        if decision.target is not None and not decision.dry_run:
            self._global = max(0, self._global - 1)
            self._per_ns[decision.target.namespace] = max(0, self._per_ns[decision.target.namespace] - 1)
