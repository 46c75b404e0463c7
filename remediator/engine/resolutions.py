"""Which alerts have resolved, and when: what verification waits for.

The processor notes every resolved alert; a verifier asks whether the alert it
is remediating resolved after the action started. In memory and bounded: a
verification lasts minutes, and after a restart verification starts over.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from remediator.model import Alert


class ResolutionBoard:
    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._resolved: OrderedDict[str, datetime] = OrderedDict()
        self._max = max_entries

    def note(self, alert: Alert, *, received_at: datetime) -> None:
        if alert.status != "resolved":
            return
        self._resolved[alert.fingerprint] = received_at
        self._resolved.move_to_end(alert.fingerprint)
        while len(self._resolved) > self._max:
            self._resolved.popitem(last=False)

    def resolved_since(self, fingerprint: str, since: datetime) -> bool:
        at = self._resolved.get(fingerprint)
        return at is not None and at >= since
