"""The daemon's operating mode: what humans and the environment have switched on or off.

Owned by the Application and read by the decider on every decision, so a change
(no cluster at start-up, a global dry-run, later the override API) applies to the
very next alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Mode:
    dry_run: bool = False
    """Global dry-run from config or the override API."""
    no_cluster: str | None = None
    """Why no Kubernetes cluster is reachable; while set, every action is a dry-run."""
    dry_run_rules: set[str] = field(default_factory=set)

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
