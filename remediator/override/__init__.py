"""Override: what an on-call human can do to the running daemon, and read about what it did.

`Operator` pauses, resumes, switches dry-run, reloads rules, triggers a rule by hand, approves
or rejects a pending action and resets breakers, journaling each change with the caller's name.
It raises domain errors (`errors.py`); the API (`api/`) maps them to HTTP statuses. `manual.py`
makes up the alert of a manual trigger; `incidents.py` turns an incident's timeline into what a
reader wants first and into a postmortem draft.
"""

from remediator.engine.handover import Recorded
from remediator.override.errors import BadRequest, Conflict, NotFound, OperationRefused, ReloadFailed
from remediator.override.operator import Operator, Preview, ReloadResult

__all__ = [
    "BadRequest",
    "Conflict",
    "NotFound",
    "OperationRefused",
    "Operator",
    "Preview",
    "Recorded",
    "ReloadFailed",
    "ReloadResult",
]
