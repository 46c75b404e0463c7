"""Deletion as the API server and the garbage collector do it: gracefully, and later.

A DELETE of a scheduled, running pod sets `deletionTimestamp` to now plus the grace period
(`terminationGracePeriodSeconds`, 30 by default) and `deletionGracePeriodSeconds`; the pod
stays listed until the kubelet confirms. A pod never scheduled or already finished goes at
once. A second DELETE can only shorten the grace period. An object with finalizers stays,
with a deletionTimestamp, until they are removed. Propagation policies become finalizers
(`orphan`, `foregroundDeletion`) that the garbage collector honours after `Timing.gc_delay_s`;
with `Background` (the default, except batch/v1 Jobs, which orphan) the owner goes at once
and its dependents shortly after.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from remediator.testing._pods import is_terminal
from remediator.testing._resources import GENERATION_KINDS
from remediator.testing._store import Obj, Store, format_time
from remediator.testing._timing import Timeline, Timing

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
_GC_FINALIZERS = (ORPHAN, FOREGROUND)
_CLUSTER_KINDS = frozenset({"Namespace"})


class Deleter:
    def __init__(self, store: Store, timeline: Timeline, timing: Timing) -> None:
        self.store = store
        self.timeline = timeline
        self.timing = timing

    # --- the DELETE verb -------------------------------------------------------------------------

    def delete(
        self, kind: str, namespace: str, name: str, *, grace: int | None = None, policy: str | None = None
    ) -> Obj | None:
        """Delete like the API server; return the object as it now is (or its last state if gone)."""
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            return None
        if kind == "Pod":
            return self._delete_pod(obj, grace)
        if kind == "Namespace":
            return self._delete_namespace(obj)
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if policy == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        elif policy == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        if not finalizers:
            removed = self.store.remove(kind, namespace, name)
            self._collect_soon(namespace)
            return removed
        marked = copy.deepcopy(obj)
        meta = marked["metadata"]
        meta["finalizers"] = finalizers
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = format_time(self.store.now())
            meta["deletionGracePeriodSeconds"] = 0
            if kind in GENERATION_KINDS:
                meta["generation"] = meta.get("generation", 1) + 1
        self.store.save(kind, marked)
        self._collect_soon(namespace)
        return marked

    def _delete_pod(self, pod: Obj, grace: int | None) -> Obj:
        meta = pod["metadata"]
        if grace is None:
            grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        if not pod["spec"].get("nodeName") or is_terminal(pod):
            grace = 0  # `podStrategy.CheckGracefulDelete`: nothing runs, nothing to wait for
        if meta.get("deletionTimestamp"):
            current = int(meta.get("deletionGracePeriodSeconds") or 0)
            if grace >= current:
                return copy.deepcopy(pod)  # graceful deletion already pending: nothing changes
            deadline = datetime.fromisoformat(meta["deletionTimestamp"].replace("Z", "+00:00")) - timedelta(
                seconds=current - grace
            )
        else:
            deadline = self.store.now() + timedelta(seconds=grace)
        if grace == 0 and not meta.get("finalizers"):
            return self.store.remove("Pod", meta["namespace"], meta["name"]) or pod
        marked = copy.deepcopy(pod)
        marked["metadata"]["deletionTimestamp"] = format_time(deadline)
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        self.store.save("Pod", marked)
        return marked

    def _delete_namespace(self, ns: Obj) -> Obj:
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp"):
            return copy.deepcopy(ns)
        marked = copy.deepcopy(ns)
        marked["metadata"]["deletionTimestamp"] = format_time(self.store.now())
        marked["metadata"]["deletionGracePeriodSeconds"] = 0
        marked["status"] = {"phase": "Terminating"}
        self.store.save("Namespace", marked)
        self.timeline.after(self.timing.gc_delay_s, lambda: self._empty_namespace(name), key=f"ns/{name}")
        return marked

    def _empty_namespace(self, name: str) -> None:
        """The namespace controller: delete everything in it, then the namespace once it is empty."""
        left = [
            (kind, obj) for kind, obj in self.store.all_items() if obj["metadata"].get("namespace") == name
        ]
        for kind, obj in left:
            if not obj["metadata"].get("deletionTimestamp"):
                self.delete(kind, name, obj["metadata"]["name"])
        if any(obj["metadata"].get("namespace") == name for _, obj in self.store.all_items()):
            # Pods take their grace period: look again after the next informer round.
            self.timeline.after(
                self.timing.controller_delay_s, lambda: self._empty_namespace(name), key=f"ns/{name}"
            )
            return
        self.store.remove("Namespace", "", name)

    # --- finalizers ------------------------------------------------------------------------------

    def finalize(self, kind: str, obj: Obj) -> bool:
        """After an update: a deleted object whose last finalizer just went is removed. True if so."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if kind == "Pod" and int(meta.get("deletionGracePeriodSeconds") or 0) > 0:
            return False  # still waiting for the kubelet
        self.store.remove(kind, meta.get("namespace", ""), meta["name"])
        self._collect_soon(meta.get("namespace", ""))
        return True

    def _drop_finalizer(self, kind: str, obj: Obj, finalizer: str) -> None:
        updated = copy.deepcopy(obj)
        updated["metadata"]["finalizers"] = [
            f for f in obj["metadata"].get("finalizers") or [] if f != finalizer
        ]
        if not updated["metadata"]["finalizers"]:
            del updated["metadata"]["finalizers"]
        self.store.save(kind, updated)
        self.finalize(kind, updated)

    # --- the garbage collector -------------------------------------------------------------------

    def on_change(self, event: str, kind: str, obj: Obj, old: Obj | None) -> None:
        """Dependents outlive their owner by `gc_delay_s`: a collection runs that long after an owner
        goes or starts a foreground/orphan deletion, and after a dependent goes (its owner may wait)."""
        if kind == "Event":
            return
        meta = obj["metadata"]
        owner_gone = event == "DELETED" and kind != "Pod"
        dependent_gone = event == "DELETED" and bool(meta.get("ownerReferences"))
        waiting = bool(meta.get("deletionTimestamp")) and bool(
            set(meta.get("finalizers") or []) & set(_GC_FINALIZERS)
        )
        if owner_gone or dependent_gone or waiting:
            self._collect_soon(meta.get("namespace", ""))

    def _collect_soon(self, namespace: str) -> None:
        self.timeline.after(self.timing.gc_delay_s, lambda: self.collect(namespace), key=f"gc/{namespace}")

    def collect(self, namespace: str) -> None:
        """One garbage-collector pass over `namespace` (all namespaces for a cluster-scoped owner)."""
        scope = None if namespace == "" else namespace
        uids: dict[str, tuple[str, Obj]] = {}
        for kind, obj in self.store.all_items():
            if scope is None or obj["metadata"].get("namespace", "") in (scope, "") or kind in _CLUSTER_KINDS:
                uids[obj["metadata"]["uid"]] = (kind, obj)
        owners_waiting = {
            uid: (kind, obj)
            for uid, (kind, obj) in uids.items()
            if obj["metadata"].get("deletionTimestamp") and set(_finalizers(obj)) & set(_GC_FINALIZERS)
        }
        for kind, obj in list(uids.values()):
            refs = obj["metadata"].get("ownerReferences") or []
            if not refs:
                continue
            live = [r for r in refs if r.get("uid") in uids]
            orphaning = [r for r in live if ORPHAN in _finalizers(uids[r["uid"]][1])]
            waiting = [r for r in live if FOREGROUND in _finalizers(uids[r["uid"]][1])]
            solid = [r for r in live if r not in orphaning and r not in waiting]
            if solid:
                if len(solid) != len(refs):
                    self._set_refs(kind, obj, solid)  # dangling and departing owners are dropped
            elif waiting:
                self._delete_dependent(kind, obj, foreground=True)
            elif orphaning:
                self._set_refs(kind, obj, [])  # every owner orphans it: freed, not deleted
            else:
                self._delete_dependent(kind, obj, foreground=False)
        self._release_owners(owners_waiting)

    def _release_owners(self, owners: dict[str, tuple[str, Obj]]) -> None:
        """Drop `orphan` once no dependent points at the owner, `foregroundDeletion` once no blocking
        dependent is left; the owner then goes."""
        for uid, (kind, owner) in owners.items():
            current = self.store.get(kind, owner["metadata"].get("namespace", ""), owner["metadata"]["name"])
            if current is None or current["metadata"]["uid"] != uid:
                continue
            dependents = [
                ref
                for _, obj in self.store.all_items()
                for ref in obj["metadata"].get("ownerReferences") or []
                if ref.get("uid") == uid
            ]
            if ORPHAN in _finalizers(current) and not dependents:
                self._drop_finalizer(kind, current, ORPHAN)
                current = self.store.get(
                    kind, owner["metadata"].get("namespace", ""), owner["metadata"]["name"]
                )
            if current is not None and FOREGROUND in _finalizers(current):
                if not any(ref.get("blockOwnerDeletion") for ref in dependents):
                    self._drop_finalizer(kind, current, FOREGROUND)
                else:
                    self._collect_soon(current["metadata"].get("namespace", ""))

    def _delete_dependent(self, kind: str, obj: Obj, *, foreground: bool) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        self.delete(
            kind, meta.get("namespace", ""), meta["name"], policy="Foreground" if foreground else None
        )

    def _set_refs(self, kind: str, obj: Obj, refs: list[dict[str, Any]]) -> None:
        updated = copy.deepcopy(obj)
        if refs:
            updated["metadata"]["ownerReferences"] = refs
        else:
            updated["metadata"].pop("ownerReferences", None)
        self.store.save(kind, updated)


def _finalizers(obj: Obj) -> list[str]:
    return list(obj["metadata"].get("finalizers") or [])
