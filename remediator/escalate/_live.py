"""The desk's live incidents, indexed by alert fingerprint and by incident key.

Finding an alert's incident runs for every decision the hand-over reports; a scan of every live
incident (and of each one's firing alerts) made it the largest cost of processing a storm. The
indexes answer the same question as the scan did, in the same order: the first incident (in
insertion order) that holds the alert firing, else the last one with the alert's key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from remediator.store.incidents import IncidentRecord


class LiveIncidents:
    def __init__(self, incidents: list[IncidentRecord] | None = None) -> None:
        self._by_id: dict[str, IncidentRecord] = {}
        self._order: dict[str, int] = {}
        self._next = 0
        self._by_fingerprint: dict[str, set[str]] = {}
        self._by_key: dict[str, set[str]] = {}
        for i in incidents or ():
            self.put(i)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._by_id

    def __getitem__(self, incident_id: str) -> IncidentRecord:
        return self._by_id[incident_id]

    def get(self, incident_id: str) -> IncidentRecord | None:
        return self._by_id.get(incident_id)

    def values(self) -> Iterator[IncidentRecord]:
        return iter(self._by_id.values())

    def put(self, incident: IncidentRecord) -> None:
        """Add an incident or replace it (it keeps its place in the order)."""
        old = self._by_id.get(incident.id)
        self._by_id[incident.id] = incident
        if old is None:
            self._order[incident.id] = self._next
            self._next += 1
            self._index(incident.id, incident.firing, incident.key)
            return
        # Re-indexed by difference: a storm's incident holds thousands of alerts, and is saved again
        # with every batch that adds a few.
        before, after = old.firing, incident.firing
        if after is not before and after != before:
            n = len(before)
            if len(after) > n and after[:n] == before:
                # Alerts added at the end (a batch fired them): only those to index.
                self._index(incident.id, after[n:], None)
            else:
                gone, now = set(before), set(after)
                for fp in gone - now:
                    _discard(self._by_fingerprint, fp, incident.id)
                self._index(incident.id, now - gone, None)
        if old.key != incident.key:
            _discard(self._by_key, old.key, incident.id)
            self._index(incident.id, (), incident.key)

    def _index(self, incident_id: str, firing: Iterable[str], key: str | None) -> None:
        for fp in firing:
            self._by_fingerprint.setdefault(fp, set()).add(incident_id)
        if key is not None:
            self._by_key.setdefault(key, set()).add(incident_id)

    def pop(self, incident_id: str) -> IncidentRecord | None:
        old = self._by_id.pop(incident_id, None)
        if old is not None:
            self._unindex(old)
            del self._order[incident_id]
        return old

    def find(self, *, fingerprint: str, key: str) -> IncidentRecord | None:
        """The first incident holding `fingerprint` firing, else the last one with `key`."""
        ids = self._by_fingerprint.get(fingerprint)
        if ids:
            return self._by_id[min(ids, key=self._order.__getitem__)]
        ids = self._by_key.get(key)
        if ids:
            return self._by_id[max(ids, key=self._order.__getitem__)]
        return None

    def _unindex(self, incident: IncidentRecord) -> None:
        for fp in incident.firing:
            _discard(self._by_fingerprint, fp, incident.id)
        _discard(self._by_key, incident.key, incident.id)


def _discard(index: dict[str, set[str]], name: str, incident_id: str) -> None:
    ids = index.get(name)
    if ids is not None:
        ids.discard(incident_id)
        if not ids:
            del index[name]
