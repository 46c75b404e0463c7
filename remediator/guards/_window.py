"""Sliding-window counter on wall time, shared by the rate-limit scopes."""

from __future__ import annotations

import bisect
from collections import deque
from datetime import datetime, timedelta


class Window:
    def __init__(self) -> None:
        self._times: deque[datetime] = deque()

    def count(self, now: datetime, per_s: float) -> int:
        horizon = now - timedelta(seconds=per_s)
        while self._times and self._times[0] <= horizon:
            self._times.popleft()
        return len(self._times)

    def oldest(self) -> datetime | None:
        return self._times[0] if self._times else None

    def add(self, at: datetime) -> None:
        """Kept in time order: times learnt from other replicas can be older than the newest here."""
        if self._times and at < self._times[-1]:
            bisect.insort(self._times, at)
        else:
            self._times.append(at)

    def clear(self) -> None:
        self._times.clear()

    def remove(self, at: datetime) -> None:
        """Take back one `add(at)` (its journal write failed); gone already (aged out) is fine."""
        for i in range(len(self._times) - 1, -1, -1):
            if self._times[i] == at:
                del self._times[i]
                return

    def __len__(self) -> int:
        return len(self._times)
