"""Guard state taken by decisions that are not journaled yet, and undone if their write fails.

Guards keep in-memory state for what they let through (the target in flight, the alert episode
seen, the namespace's actions in flight, the rate window, the cooldown start). The decider takes it
when it decides; the journal write that makes the decision real comes after, for a whole batch.
If that write fails (`database is locked`, disk full), the batch is decided again later: the state
its first attempt took must go, or the retry sees its own ghost (`duplicate`, `in_flight`,
`concurrency_limited` with nothing running, until a restart). So each guard's `record` returns how
to undo itself; the decider holds those undos here per decision, and the hand-over settles them
once the write committed, or runs them (newest first) when it did not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from remediator.model import Decision

Undo = Callable[[], None]
"""Puts a guard's state back as it was before it recorded one decision."""


_Key = tuple[str, object, str, str | None, object, bool]


def _key(d: Decision) -> _Key:
    """What identifies a decision even after `dataclasses.replace` rewords its reason (a manual
    trigger, a recovery): the alert episode, the rule, the target, when, and whether dry-run."""
    return (
        d.alert.fingerprint,
        d.alert.starts_at,
        d.rule,
        d.target.key if d.target else None,
        d.decided_at,
        d.dry_run,
    )


class Reservations:
    def __init__(self) -> None:
        self._open: dict[_Key, list[list[Undo]]] = {}

    def hold(self, decision: Decision, undos: list[Undo]) -> None:
        """`decision` took guard state; `undos` give it back (in the order it was taken)."""
        if undos:
            self._open.setdefault(_key(decision), []).append(undos)

    def _take(self, decision: Decision) -> list[Undo]:
        key = _key(decision)
        held = self._open.get(key)
        if not held:
            return []
        undos = held.pop(0)
        if not held:
            del self._open[key]
        return undos

    def settle(self, decisions: Iterable[Decision]) -> None:
        """Journaled: the state they took is now the journal's, and stays."""
        for d in decisions:
            self._take(d)

    def release(self, decisions: Iterable[Decision]) -> None:
        """Not journaled: give back what they took, the newest decision first."""
        for d in reversed(list(decisions)):
            for undo in reversed(self._take(d)):
                undo()

    def __len__(self) -> int:
        return sum(len(v) for v in self._open.values())
