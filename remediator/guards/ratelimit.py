"""Rate limits: per rule and target, per rule, globally, and the storm brake.

Cooldown spaces actions out; rate limits cap how many fit in a window, so a
flapping alert cannot restart a Deployment every cooldown forever. The storm
brake caps actions per minute across all rules: when everything alerts at
once, automation slows down instead of multiplying the blast radius. Windows
are rebuilt from the journal at start-up. Dry-run counts separately.
"""

from __future__ import annotations

from datetime import datetime

from remediator.clock import Clock
from remediator.config import GuardSettings, WindowLimit
from remediator.durations import format_duration
from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.guards._window import Window
from remediator.model import Decision, Outcome

_SCOPES = ("target", "rule", "global", "storm")


def _describe(scope: str, proposal: Proposal) -> str:
    if scope == "target":
        return f"on {proposal.target.key} by rule {proposal.rule!r}"
    if scope == "rule":
        return f"by rule {proposal.rule!r}"
    return "across all rules" if scope == "global" else "across all rules (storm brake)"


class RateLimitGuard:
    name = "rate_limit"

    def __init__(self, *, settings: GuardSettings, clock: Clock) -> None:
        self._s = settings
        self._clock = clock
        self._windows: dict[tuple[str, ...], Window] = {}
        self._kept = (
            settings.max_actions_per_rule is not None,
            settings.max_actions_global is not None,
            settings.storm_brake is not None,
        )
        """Which scopes' windows are kept besides the per-target one (a reloaded rule may bring its own
        per-target limit, so that one always is). The settings hold for the daemon's life (a reload changes
        rules only), so a scope without a limit is never counted: its window would only grow."""

    def _window(self, key: tuple[str, ...]) -> Window:
        w = self._windows.get(key)
        if w is None:
            w = self._windows[key] = Window()
        return w

    def _keys(self, rule: str, target: str, dry_run: bool) -> tuple[tuple[str, ...], ...]:
        mode = "dry" if dry_run else "live"
        by_rule, in_total, in_storm = self._kept
        return (
            (mode, "target", rule, target),
            *([(mode, "rule", rule)] if by_rule else []),
            *([(mode, "global")] if in_total else []),
            *([(mode, "storm")] if in_storm else []),
        )

    def _limits(self, proposal: Proposal) -> tuple[WindowLimit | None, ...]:
        own = proposal.definition.guards.max_actions
        target = (
            WindowLimit(count=own.count, per=own.per_s) if own is not None else self._s.max_actions_per_target
        )
        return (target, self._s.max_actions_per_rule, self._s.max_actions_global, self._s.storm_brake)

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        limits = self._limits(proposal)
        if all(limit is None for limit in limits):
            return None  # no limit in force: nothing to count, no clock to read
        now = self._clock.now()
        mode = "dry" if proposal.dry_run else "live"
        keys = ((mode, "target", proposal.rule, proposal.target.key), (mode, "rule", proposal.rule))
        for scope, key, limit in zip(
            _SCOPES, (*keys, (mode, "global"), (mode, "storm")), limits, strict=True
        ):
            if limit is None:
                continue
            n = self._window(key).count(now, limit.per)
            if n >= limit.count:
                return Verdict(
                    outcome=Outcome.RATE_LIMITED,
                    reason=f"rate limited: {n} actions {_describe(scope, proposal)} in the last "
                    f"{format_duration(limit.per)} (max {limit.count})",
                    transient=scope == "storm",  # the brake eases within its window; the others are policy
                )
        return None

    def record(self, decision: Decision) -> Undo | None:
        if decision.target is None:
            return None
        self._add(decision.rule, decision.target.key, decision.dry_run, decision.decided_at)
        keys = self._keys(decision.rule, decision.target.key, decision.dry_run)

        def undo() -> None:
            for key in keys:
                self._window(key).remove(decision.decided_at)

        return undo

    def _add(self, rule: str, target: str, dry_run: bool, at: datetime) -> None:
        for key in self._keys(rule, target, dry_run):
            self._window(key).add(at)

    def clear(self) -> None:
        """Before a rebuild from the journal."""
        self._windows.clear()

    def load(self, acts: list[tuple[str, str, bool, datetime]]) -> None:
        for rule, target, dry_run, at in acts:
            self._add(rule, target, dry_run, at)

    def forget_act(self, rule: str, target: str, dry_run: bool, at: datetime) -> None:
        """An act that never reached the cluster (taken over while queued, refused while acting)
        counts toward no limit."""
        for key in self._keys(rule, target, dry_run):
            self._window(key).remove(at)

    def forget(self, decision: Decision) -> None:
        """The decision's execution changed nothing and is deferred again (a disruption budget refused
        it while acting): it counts toward no limit, as the journal's rebuild says."""
        if decision.target is not None:
            self.forget_act(decision.rule, decision.target.key, decision.dry_run, decision.decided_at)
