"""The stages the executor hands an execution on to, declared here and implemented downstream.

After acting, the executor (runner.py) verifies through a `Verifier` (verify/), tells humans
through `IncidentMessages` (escalate/incident.py) and escalates failures through an `Escalation`
(escalate/escalation.py). Those packages import this one, never the reverse; `app.py` wires the
implementations in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from remediator.model import Decision, ExecutionId
from remediator.rules import Rule
from remediator.store import ExecutionUpdate


@dataclass(frozen=True, kw_only=True)
class Verification:
    """Whether the action worked, and the detail the execution's summary or error carries."""

    ok: bool
    detail: str


class Verifier(Protocol):
    async def verify(
        self, decision: Decision, rule: Rule | None, *, started_at: datetime
    ) -> Verification | None:
        """None when the rule asks for no verification."""
        ...


class Escalation(Protocol):
    def escalate(
        self, decision: Decision, rule: Rule | None, *, reason: str, execution_id: int | None
    ) -> None:
        """Run the rule's `on_failure` steps off the execution path; never raises."""
        ...


class IncidentMessages(Protocol):
    """Silences and channel messages around one remediation; failures are journaled, never raised."""

    def acting(self, decision: Decision, rule: Rule | None, *, execution_id: ExecutionId) -> None: ...

    def finished(
        self, decision: Decision, rule: Rule | None, update: ExecutionUpdate, *, execution_id: ExecutionId
    ) -> None: ...

    async def silence(
        self, decision: Decision, rule: Rule | None, *, execution_id: ExecutionId, window_s: float
    ) -> str | None:
        """The silence id, or None when the rule asks for none or it could not be created."""
        ...

    async def unsilence(
        self, silence_id: str, decision: Decision, rule: Rule | None, *, execution_id: ExecutionId
    ) -> None: ...
