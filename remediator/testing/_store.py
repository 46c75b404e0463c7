"""The fake cluster's etcd: objects by kind and name, and one resourceVersion counter.

Every committed change bumps the counter and stamps the object, and `save` skips
writes that change nothing, so the controllers can re-run after every request
without moving resourceVersions (optimistic-concurrency tests depend on that).
Names and uids come from a seeded RNG, so a scenario replays identically.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from remediator.testing._resources import GENERATION_KINDS, STORED

Obj = dict[str, Any]
Listener = Callable[[str, str, Obj, Obj | None], None]
"""Called after every committed change as (event type, kind, new object, old object or None);
the event type is ADDED, MODIFIED or DELETED, as a watch reports it."""

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet of generated suffixes (`rand.String` in apimachinery): no vowels, no look-alikes."""


def format_time(at: datetime) -> str:
    """`metav1.Time`: RFC 3339 in UTC, whole seconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro(at: datetime) -> str:
    """`metav1.MicroTime`: RFC 3339 in UTC with exactly six fractional digits."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _without_rv(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


class Store:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._pinned: datetime | None = None
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {kind: {} for kind in STORED}
        self.revision = 0
        self.rng = random.Random(0)
        self.listeners: list[Listener] = []

    # --- time and names --------------------------------------------------------------------------

    def now(self) -> datetime:
        at = self._pinned or self._clock()
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at

    @contextmanager
    def pinned(self, at: datetime) -> Iterator[None]:
        """Make `now()` return `at`, so seeded objects can be backdated consistently."""
        previous, self._pinned = self._pinned, at
        try:
            yield
        finally:
            self._pinned = previous

    def timestamp(self) -> str:
        return format_time(self.now())

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choice(NAME_ALPHABET) for _ in range(length))

    def unique_name(self, kind: str, namespace: str, prefix: str) -> str:
        while True:
            name = prefix + self.suffix()
            if self.get(kind, namespace, name) is None:
                return name

    # --- reads -----------------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The stored object itself: copy it before changing it, then `save` the copy."""
        return self._objects[kind].get((namespace, name))

    def items(self, kind: str, namespace: str | None = None) -> list[Obj]:
        found = [o for (ns, _), o in self._objects[kind].items() if namespace is None or ns == namespace]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def all_items(self) -> Iterator[tuple[str, Obj]]:
        for kind, objects in self._objects.items():
            for obj in list(objects.values()):
                yield kind, obj

    def by_uid(self, uid: str, namespace: str | None = None) -> tuple[str, Obj] | None:
        """The object with `uid` in `namespace` or cluster-scoped (how owner references resolve)."""
        for kind, objects in self._objects.items():
            for (ns, _), obj in objects.items():
                if obj["metadata"].get("uid") == uid and (namespace is None or ns in (namespace, "")):
                    return kind, obj
        return None

    # --- writes ----------------------------------------------------------------------------------

    def _bump(self) -> str:
        self.revision += 1
        return str(self.revision)

    def insert(self, kind: str, obj: Obj) -> Obj:
        """Store a new object, stamping uid, creationTimestamp, generation and resourceVersion."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", self.new_uid())
        meta.setdefault("creationTimestamp", self.timestamp())
        if kind in GENERATION_KINDS:
            meta["generation"] = 1
        meta["resourceVersion"] = self._bump()
        self._objects[kind][(meta.get("namespace", ""), meta["name"])] = obj
        self._emit("ADDED", kind, obj, None)
        return obj

    def save(self, kind: str, obj: Obj) -> bool:
        """Replace an existing object; bump generation on a .spec change. False if nothing changed."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        old = self._objects[kind][key]
        if _without_rv(old) == _without_rv(obj):
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            return False
        if kind in GENERATION_KINDS and old.get("spec") != obj.get("spec"):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        meta["resourceVersion"] = self._bump()
        self._objects[kind][key] = obj
        self._emit("MODIFIED", kind, obj, old)
        return True

    def remove(self, kind: str, namespace: str, name: str) -> Obj | None:
        old = self._objects[kind].pop((namespace, name), None)
        if old is None:
            return None
        obj = copy.deepcopy(old)
        obj["metadata"]["resourceVersion"] = self._bump()
        self._emit("DELETED", kind, obj, old)
        return obj

    def _emit(self, event: str, kind: str, obj: Obj, old: Obj | None) -> None:
        for listener in self.listeners:
            listener(event, kind, obj, old)
