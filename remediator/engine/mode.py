"""The daemon's operating mode: what humans and the environment have switched on or off.

Owned by the Application and read by the decider on every decision, so a change
(no cluster at start-up, a global dry-run, later the override API) applies to the
very next alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class Pause:
    by: str
    reason: str
    until: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.until is not None and now >= self.until

    def describe(self) -> str:
        until = f" until {self.until.isoformat()}" if self.until else ""
        return f"paused by {self.by}{until}: {self.reason}"


@dataclass
class Mode:
    dry_run: bool = False
    """Global dry-run from config or the override API."""
    no_cluster: str | None = None
    """Why no Kubernetes cluster is reachable; while set, every action is a dry-run."""
    dry_run_rules: set[str] = field(default_factory=set)
    paused: Pause | None = None
    """Global pause: every decision is recorded as `paused`, nothing acts."""
    paused_rules: dict[str, Pause] = field(default_factory=dict)

    def pause_for(self, rule: str, now: datetime) -> Pause | None:
        """The pause in force for this rule now, if any; expired pauses are dropped here."""
        if self.paused is not None and self.paused.expired(now):
            self.paused = None
        p = self.paused_rules.get(rule)
        if p is not None and p.expired(now):
            del self.paused_rules[rule]
            p = None
        return self.paused or p

    def dry_run_for(self, rule: str, *, rule_dry_run: bool | None) -> tuple[bool, str]:
        """Whether this rule's actions run as dry-run now, and why (the reason every decision carries)."""
        if self.no_cluster is not None:
            return True, f"dry-run: no Kubernetes cluster reachable ({self.no_cluster})"
        if self.dry_run:
            return True, "dry-run: global dry-run is on"
        if rule in self.dry_run_rules:
            return True, f"dry-run: rule {rule!r} is in dry-run"
        if rule_dry_run:
            return True, f"dry-run: rule {rule!r} sets guards.dry_run"
        return False, ""
