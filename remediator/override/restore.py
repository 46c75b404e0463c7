"""Human decisions, written to the journal as they are made and put back in force at start-up.

A pause, a dry-run switch or a breaker reset is journaled (`store/controls.py`) before the
Operator applies it, so after a restart, SIGKILL included, the daemon behaves as the humans left it:
a paused rule stays paused (until its expiry), a rule in dry-run stays in dry-run, and a breaker a
human reset is not re-opened from the failures that came before the reset.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from remediator.engine.mode import Mode, Pause
from remediator.store.controls import GLOBAL, Control


def pause_value(pause: Pause) -> dict[str, Any]:
    return {"by": pause.by, "reason": pause.reason, "until": pause.until.isoformat() if pause.until else None}


def restore_mode(mode: Mode, controls: Iterable[Control], *, now: datetime) -> list[str]:
    """Apply the journaled pauses and dry-run switches to `mode`; one line per decision restored.
    Pauses that expired while the daemon was down are not restored."""
    restored: list[str] = []
    for c in controls:
        what = "everything" if c.key == GLOBAL else f"rule {c.key!r}"
        if c.kind == "pause":
            until = c.value.get("until")
            pause = Pause(
                by=str(c.value.get("by") or c.actor),
                reason=str(c.value.get("reason", "")),
                until=datetime.fromisoformat(until) if until else None,
            )
            if pause.expired(now):
                continue
            if c.key == GLOBAL:
                mode.paused = pause
            else:
                mode.paused_rules[c.key] = pause
            restored.append(f"{what} {pause.describe()}")
        elif c.kind == "dry_run":
            enabled = bool(c.value.get("enabled"))
            if c.key == GLOBAL:
                mode.dry_run = enabled
            elif enabled:
                mode.dry_run_rules.add(c.key)
            restored.append(f"dry-run {'on' if enabled else 'off'} for {what} (set by {c.actor})")
    return restored


def breaker_resets(controls: Iterable[Control]) -> dict[tuple[str, str], datetime]:
    """(rule, target) -> when a human last reset its breaker: failures before that do not count."""
    out: dict[tuple[str, str], datetime] = {}
    for c in controls:
        if c.kind == "breaker_reset":
            rule, _, target = c.key.partition(":")
            out[(rule, target)] = c.at
    return out
