"""Namespace allow/deny lists: cheapest check, first in the chain.

The cluster's own namespaces are denied by default; an allow list, when set,
is the only place remediator may touch.
"""

from __future__ import annotations

from collections.abc import Iterable

from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome


class NamespaceGuard:
    name = "namespaces"

    def __init__(self, *, allowed: Iterable[str], denied: Iterable[str]) -> None:
        self._allowed = frozenset(allowed)
        self._denied = frozenset(denied)

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        ns = proposal.target.namespace
        if ns in self._denied:
            return Verdict(outcome=Outcome.OUTSIDE_ALLOWED_NAMESPACES, reason=f"namespace {ns!r} is denied")
        if self._allowed and ns not in self._allowed:
            allowed = ", ".join(sorted(self._allowed))
            return Verdict(
                outcome=Outcome.OUTSIDE_ALLOWED_NAMESPACES,
                reason=f"namespace {ns!r} is not allowed ({allowed})",
            )
        return None

    def record(self, decision: Decision) -> Undo | None:
        return None
