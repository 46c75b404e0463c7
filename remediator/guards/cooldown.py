"""Cooldown per rule and target: after acting, wait before acting again.

Long enough for the last fix to show whether it worked. Keyed by mode too, so a
dry-run rehearsal never blocks the real action once dry-run is switched off.
Wall time (persisted) because a cooldown must outlive a restart: the state is
rebuilt from the journal's acting decisions at start-up.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome

_Key = tuple[str, str, bool]
_KEEP = 8
"""Acts kept per rule and target: the latest decides; the ones before it stand in when a later one is
taken back (a failed write, a take-over of a queued execution that never started)."""


class CooldownGuard:
    name = "cooldown"

    def __init__(self, *, default_s: float, clock: Clock) -> None:
        self._default_s = default_s
        self._clock = clock
        self._last: dict[_Key, list[datetime]] = {}
        """The latest acts per (rule, target key, dry_run), oldest first."""

    def load(self, acts: list[tuple[str, str, bool, datetime]]) -> None:
        """Rebuild from the journal: (rule, target key, dry_run, decided_at), oldest first."""
        for rule, target, dry_run, at in acts:
            self._add((rule, target, dry_run), at)

    def clear(self) -> None:
        """Before a rebuild from the journal."""
        self._last.clear()

    def forget_act(self, rule: str, target: str, dry_run: bool, at: datetime) -> None:
        """An act that never reached the cluster (taken over while queued) holds no cooldown. A later
        one stands; an earlier one stands again."""
        self._remove((rule, target, dry_run), at)

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        acts = self._last.get((proposal.rule, proposal.target.key, proposal.dry_run))
        if not acts:
            return None
        last = acts[-1]
        cooldown = proposal.cooldown_s if proposal.cooldown_s is not None else self._default_s
        elapsed = (self._clock.now() - last).total_seconds()
        if elapsed >= cooldown:
            return None
        return Verdict(
            outcome=Outcome.COOLDOWN,
            reason=(
                f"cooldown: {'dry-run ' if proposal.dry_run else ''}acted on {proposal.target.key} "
                f"{format_duration(max(int(elapsed), 0))} ago, cooldown {format_duration(cooldown)}"
            ),
        )

    def record(self, decision: Decision) -> Undo | None:
        if decision.target is None:
            return None
        key = (decision.rule, decision.target.key, decision.dry_run)
        self._add(key, decision.decided_at)
        if len(self._last) > 100_000:
            self._prune()
        return lambda: self._remove(key, decision.decided_at)

    def _add(self, key: _Key, at: datetime) -> None:
        acts = self._last.setdefault(key, [])
        bisect.insort(acts, at)
        if len(acts) > _KEEP:
            del acts[0]

    def _remove(self, key: _Key, at: datetime) -> None:
        """Take back one act; one recorded since stands. Gone already (pruned) is fine."""
        acts = self._last.get(key)
        if acts is None or at not in acts:
            return
        acts.remove(at)
        if not acts:
            del self._last[key]

    def forget(self, decision: Decision) -> None:
        """The decision's execution changed nothing and is deferred again (a disruption budget refused
        it while acting): it holds no cooldown. A later record stands."""
        if decision.target is not None:
            self.forget_act(decision.rule, decision.target.key, decision.dry_run, decision.decided_at)

    def _prune(self) -> None:
        """Bound memory in a storm over many targets: entries older than a day cannot deny anything."""
        horizon = self._clock.now() - timedelta(days=1)
        self._last = {k: v for k, v in self._last.items() if v[-1] >= horizon}
