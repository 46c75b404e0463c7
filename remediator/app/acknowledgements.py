"""PagerDuty acknowledgements replayed at start-up.

An acknowledgement of one of remediator's own pages reaches the incident desk while its payload is
normalized, and the desk saves it in a task of its own, after the payload is marked processed. A
crash in between would lose it: the ladder would go on and page the human who had acknowledged. The
payload is in the journal, though: at start-up, the PagerDuty payloads processed since the oldest
unacknowledged escalation began are read again and their acknowledgements handed to the desk, which
applies only the ones it has not saved.
"""

from __future__ import annotations

from remediator.escalate.desk import IncidentDesk
from remediator.receivers import pagerduty
from remediator.receivers.errors import PayloadError
from remediator.store import PipelineJournal


async def replay_acknowledgements(journal: PipelineJournal, desk: IncidentDesk) -> int:
    """Hand the desk the acknowledgements it may have lost; how many stopped a ladder."""
    since = desk.paged_unacknowledged_since()
    if since is None:
        return 0
    stopped = 0
    for p in await journal.processed_payloads("pagerduty", since):
        try:
            taken = pagerduty.taken(pagerduty.validate(p.body))
        except PayloadError:
            continue  # accepted, so validated then: a downgrade; the processor said so already
        if taken is not None and await desk.taken_before_restart(
            incident_key=taken.incident_key, status=taken.status, by=taken.by, received_at=p.received_at
        ):
            stopped += 1
    return stopped
