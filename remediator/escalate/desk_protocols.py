"""What the incident desk takes from the rest of the pipeline: its journal, and a decision as the
hand-over reports it.
"""

from __future__ import annotations

from typing import Any, Protocol

from remediator.model import Decision
from remediator.store import OversightJournal
from remediator.store.scheduling import TimerStore


class DeskJournal(OversightJournal, TimerStore, Protocol):
    """What the desk needs: incidents and escalations (oversight) and timers."""


class DecidedAlert(Protocol):
    """A journaled decision, as the hand-over reports it."""

    @property
    def decision(self) -> Decision: ...

    @property
    def alert_id(self) -> Any: ...
