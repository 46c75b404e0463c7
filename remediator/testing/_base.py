"""What every fake controller shares: the store, the timeline, pod creation and deletion.

Controllers write only through these helpers, so pods they create always start Pending
(the kubelet starts them), and pods they remove are deleted gracefully, exactly as a
client's DELETE would be. While seeding, pods are created Running and removed at once,
so `add_deployment` and friends build a settled cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from remediator.testing._deletion import Deleter
from remediator.testing._objects import NODES, is_controlled_by
from remediator.testing._pods import new_pod
from remediator.testing._store import Obj, Store, format_time
from remediator.testing._timing import Timeline, Timing


def drop_zero(status: dict[str, Any], *keep: str) -> dict[str, Any]:
    """Go's `omitempty` on int32 status fields: zero counts are absent, not 0."""
    return {k: v for k, v in status.items() if v != 0 or k in keep}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Context:
    def __init__(self, store: Store, timeline: Timeline, timing: Timing, deleter: Deleter) -> None:
        self.store = store
        self.timeline = timeline
        self.timing = timing
        self.deleter = deleter
        self.seeding = False
        """True while seeding helpers build a settled cluster: pods are born Running."""

    def now_str(self) -> str:
        return format_time(self.store.now())

    def ip(self) -> str:
        return f"10.244.{self.store.rng.randint(0, 255)}.{self.store.rng.randint(2, 254)}"

    def owned(self, kind: str, owner: Mapping[str, Any]) -> list[Obj]:
        return [
            o for o in self.store.items(kind, owner["metadata"]["namespace"]) if is_controlled_by(o, owner)
        ]

    def create_pod(
        self,
        owner: Obj,
        *,
        name: str,
        template: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        node: str | None = None,
        finalizers: list[str] | None = None,
    ) -> Obj:
        pod = new_pod(
            namespace=owner["metadata"]["namespace"],
            name=name,
            template=template if template is not None else owner["spec"]["template"],
            owner=owner,
            labels=labels,
            node=node or self.store.rng.choice(NODES),
            state="ready" if self.seeding else "pending",
            at=self.now_str(),
            pod_ip=self.ip(),
        )
        if finalizers:
            pod["metadata"]["finalizers"] = list(finalizers)
        return self.store.insert("Pod", pod)

    def delete_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return
        if self.seeding:
            self.store.remove("Pod", meta["namespace"], meta["name"])
        else:
            self.deleter.delete("Pod", meta["namespace"], meta["name"])

    def save_status(self, kind: str, obj: Obj, status: Obj) -> Obj:
        current = self.store.get(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if current is None:
            return obj
        updated = copy.deepcopy(current)
        updated["status"] = status
        self.store.save(kind, updated)
        return updated
