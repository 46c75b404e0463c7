"""A prepared action: the exact writes and their diff, computed from fresh state, not yet sent.

Every action is split in two: a *prepare* step that GETs fresh state, checks the preconditions and
computes the exact patch and its diff, and an *apply* step that sends that patch. `plan()` runs only
the first and `execute()` runs both, so a dry-run records exactly what execute would have done, and
a retry after a 409 re-reads the object instead of replaying a stale patch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from remediator.model import Change
from remediator.store.revisions import OwnKind

Apply = Callable[[], Awaitable[tuple[tuple[Change, ...], str]]]
"""Sends the prepared writes; returns the changes actually made and the past-tense summary."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    changes: tuple[Change, ...]
    planned: str
    """What it would do, for a dry-run: `would restart shop/Deployment/cart`."""
    apply: Apply
    uid: str | None
    """The workload's uid, so the Event recorded afterwards points at it."""
    own: OwnKind | None = None
    """The write makes a pod-template revision of remediator's own (set_env, set_image: a mitigation;
    rollout_restart: a restart), journaled so it is never taken for a deploy."""
    written: dict[str, Any] = field(default_factory=dict)
    """Filled by `apply`: the workload as the API server answered the write (its new pod template)."""
