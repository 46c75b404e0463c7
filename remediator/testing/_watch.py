"""Watches: the change history the server keeps, and the events one watch is sent.

Every committed change is kept (a bounded history, as the watch cache keeps one), so a
watch can start from a resourceVersion and miss nothing. Without one (or with "0") it
starts with a synthetic ADDED per existing object. A resourceVersion older than the
history answers 200 with one ERROR event carrying a 410 `Expired` Status ("too old
resource version: R (F)"), as the watch cache does; kubernetes-asyncio turns that into
`ApiException(410)`. A change that moves an object into or out of a watch's selector is
sent as ADDED or DELETED, as the real server filters.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from remediator.testing._errors import ApiError, bad_request
from remediator.testing._lists import Selector, matches
from remediator.testing._resources import Resource
from remediator.testing._store import Obj, Store

HISTORY = 10_000
"""Changes kept for watches that resume from a resourceVersion."""


@dataclass(frozen=True, slots=True)
class Change:
    rv: int
    type: str
    kind: str
    namespace: str
    obj: Obj
    old: Obj | None


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """A watch the API accepted: FakeKubeServer streams it."""

    res: Resource
    kind: str
    namespace: str | None
    selector: Selector
    resource_version: int | None
    timeout_s: float | None
    bookmarks: bool
    view: Callable[[Obj], Obj]


class ChangeLog:
    def __init__(self, store: Store, *, capacity: int = HISTORY) -> None:
        self._store = store
        self._changes: deque[Change] = deque(maxlen=capacity)
        self._floor = store.revision
        self._waiters: set[asyncio.Event] = set()
        store.listeners.append(self._record)

    def _record(self, event: str, kind: str, obj: Obj, old: Obj | None) -> None:
        if len(self._changes) == self._changes.maxlen:
            self._floor = self._changes[0].rv
        rv = int(obj["metadata"]["resourceVersion"])
        # Stored objects are replaced, never changed in place, so keeping references is safe.
        self._changes.append(Change(rv, event, kind, obj["metadata"].get("namespace", ""), obj, old))
        for waiter in self._waiters:
            waiter.set()

    def compact(self) -> None:
        """Forget the history, as etcd compaction does: older resourceVersions get 410 Gone."""
        self._changes.clear()
        self._floor = self._store.revision

    def since(self, rv: int) -> list[Change]:
        if rv < self._floor:
            raise ApiError(410, f"too old resource version: {rv} ({self._floor})", reason="Expired")
        return [c for c in self._changes if c.rv > rv]

    def subscribe(self) -> asyncio.Event:
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        return waiter

    def unsubscribe(self, waiter: asyncio.Event) -> None:
        self._waiters.discard(waiter)


def parse_watch(
    res: Resource,
    kind: str,
    namespace: str | None,
    query: Mapping[str, str],
    selector: Selector,
    view: Callable[[Obj], Obj],
) -> WatchRequest:
    raw_rv = query.get("resourceVersion") or ""
    try:
        rv = int(raw_rv) if raw_rv not in ("", "0") else None
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
    except ValueError:
        raise bad_request(f"invalid resource version: {raw_rv!r}") from None
    bookmarks = query.get("allowWatchBookmarks") in ("1", "t", "T", "TRUE", "true", "True")
    return WatchRequest(res, kind, namespace, selector, rv, timeout, bookmarks, view)


def events_for(watch: WatchRequest, changes: list[Change]) -> Iterator[dict[str, Any]]:
    """The watch events `changes` produce for this watch, with selector transitions."""
    for change in changes:
        if change.kind != watch.kind or (watch.namespace is not None and change.namespace != watch.namespace):
            continue
        now_in = matches(change.obj, watch.selector, view=watch.view)
        was_in = change.old is not None and matches(change.old, watch.selector, view=watch.view)
        kind = change.type
        if change.type == "MODIFIED":
            if now_in and not was_in:
                kind = "ADDED"
            elif was_in and not now_in:
                kind = "DELETED"
            elif not now_in:
                continue
        elif not now_in:
            continue
        yield {"type": kind, "object": watch.view(change.obj)}


def initial_events(watch: WatchRequest, objects: list[Obj]) -> Iterator[dict[str, Any]]:
    for obj in objects:
        if matches(obj, watch.selector, view=watch.view):
            yield {"type": "ADDED", "object": watch.view(obj)}


def bookmark(watch: WatchRequest, revision: int) -> dict[str, Any]:
    """A BOOKMARK: only kind, apiVersion and the resourceVersion the watch has reached."""
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": watch.res.kind,
            "apiVersion": watch.res.api_version,
            "metadata": {"resourceVersion": str(revision)},
        },
    }


def error_event(error: ApiError) -> dict[str, Any]:
    return {"type": "ERROR", "object": error.status()}
