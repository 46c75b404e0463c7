"""Dedup: one alert episode acts once per rule and target.

Alertmanager re-sends a firing alert every group_interval/repeat_interval, and an
HA pair sends it twice. An episode is (fingerprint, startsAt): while its action is
in flight or within the rule's cooldown, a re-send is recorded as `duplicate`, which
says more than `cooldown` about why nothing happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from remediator.clock import Clock
from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome

_Key = tuple[str, datetime, str, str, bool]
_PRUNE_ABOVE = 100_000
"""Episodes remembered before those older than a day are dropped."""


class DedupGuard:
    name = "dedup"

    def __init__(self, *, default_cooldown_s: float, clock: Clock) -> None:
        self._default = default_cooldown_s
        self._clock = clock
        self._seen: dict[_Key, datetime] = {}
        self._prune_above = _PRUNE_ABOVE

    @staticmethod
    def _key(p: Proposal | Decision) -> _Key:
        assert p.target is not None
        return (p.alert.fingerprint, p.alert.starts_at, p.rule, p.target.key, p.dry_run)

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        at = self._seen.get(self._key(proposal))
        if at is None:
            return None
        cooldown = proposal.cooldown_s if proposal.cooldown_s is not None else self._default
        if (self._clock.now() - at).total_seconds() >= cooldown:
            return None
        return Verdict(
            outcome=Outcome.DUPLICATE,
            reason=f"duplicate: this alert (fingerprint {proposal.alert.fingerprint}, started "
            f"{proposal.alert.starts_at.isoformat()}) already acted on {proposal.target.key} "
            f"at {at.isoformat()}",
        )

    def load(self, acts: Iterable[tuple[str, datetime, str, str, bool, datetime]]) -> None:
        """Episodes that acted, from the journal: (fingerprint, starts_at, rule, target, dry_run, at)."""
        for fingerprint, starts_at, rule, target, dry_run, at in acts:
            key = (fingerprint, starts_at, rule, target, dry_run)
            if key not in self._seen or self._seen[key] < at:
                self._seen[key] = at

    def clear(self) -> None:
        """Before a rebuild from the journal."""
        self._seen.clear()

    def forget_act(self, key: _Key, at: datetime) -> None:
        """An episode's act that never reached the cluster (taken over while queued): the episode may
        act again. Only that act: one recorded since stands."""
        if self._seen.get(key) == at:
            del self._seen[key]

    def record(self, decision: Decision) -> Undo | None:
        if decision.target is None:
            return None
        key = self._key(decision)
        before = self._seen.get(key)
        self._seen[key] = decision.decided_at
        if len(self._seen) > self._prune_above:
            horizon = self._clock.now() - timedelta(days=1)
            self._seen = {k: v for k, v in self._seen.items() if v >= horizon}
            # More than a day's worth acted: prune again once that doubles, not on every record (the
            # whole table rebuilt per decision cost 16 ms each past 100,000 episodes in a day).
            self._prune_above = max(_PRUNE_ABOVE, 2 * len(self._seen))
        return lambda: _put_back(self._seen, key, before, decision.decided_at)

    def forget(self, decision: Decision) -> None:
        """The decision's execution changed nothing and is deferred again: the episode has not acted."""
        if decision.target is not None:
            self.forget_act(self._key(decision), decision.decided_at)


def _put_back(table: dict[_Key, datetime], key: _Key, before: datetime | None, recorded: datetime) -> None:
    """Undo one record: the value before it, unless something recorded after it since."""
    if table.get(key) != recorded:
        return
    if before is None:
        del table[key]
    else:
        table[key] = before
