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
from remediator.guards._window import Window
from remediator.model import Decision, Outcome


class RateLimitGuard:
    name = "rate_limit"

    def __init__(self, *, settings: GuardSettings, clock: Clock) -> None:
        self._s = settings
        self._clock = clock
        self._windows: dict[tuple[str, ...], Window] = {}

    def _window(self, key: tuple[str, ...]) -> Window:
        w = self._windows.get(key)
        if w is None:
            w = self._windows[key] = Window()
        return w

    def _scopes(self, rule: str, target: str, dry_run: bool) -> list[tuple[str, tuple[str, ...]]]:
        mode = "dry" if dry_run else "live"
        return [
            ("target", (mode, "target", rule, target)),
            ("rule", (mode, "rule", rule)),
            ("global", (mode, "global")),
            ("storm", (mode, "storm")),
        ]

    def _limit(self, scope: str, proposal: Proposal) -> WindowLimit | None:
        if scope == "target":
            own = proposal.definition.guards.max_actions
            if own is not None:
                return WindowLimit(count=own.count, per=own.per_s)
            return self._s.max_actions_per_target
        if scope == "rule":
            return self._s.max_actions_per_rule
        if scope == "global":
            return self._s.max_actions_global
        return self._s.storm_brake

    async def check(self, proposal: Proposal) -> Verdict | None:
        now = self._clock.now()
        for scope, key in self._scopes(proposal.rule, proposal.target.key, proposal.dry_run):
            limit = self._limit(scope, proposal)
            if limit is None:
                continue
            n = self._window(key).count(now, limit.per)
            if n >= limit.count:
                what = {
                    "target": f"on {proposal.target.key} by rule {proposal.rule!r}",
                    "rule": f"by rule {proposal.rule!r}",
                    "global": "across all rules",
                    "storm": "across all rules (storm brake)",
                }[scope]
                return Verdict(
                    outcome=Outcome.RATE_LIMITED,
                    reason=f"rate limited: {n} actions {what} in the last {format_duration(limit.per)} "
                    f"(max {limit.count})",
                )
        return None

    def record(self, decision: Decision) -> None:
        if decision.target is not None:
            self._add(decision.rule, decision.target.key, decision.dry_run, decision.decided_at)

    def _add(self, rule: str, target: str, dry_run: bool, at: datetime) -> None:
        for _, key in self._scopes(rule, target, dry_run):
            self._window(key).add(at)

    def load(self, acts: list[tuple[str, str, bool, datetime]]) -> None:
        for rule, target, dry_run, at in acts:
            self._add(rule, target, dry_run, at)
