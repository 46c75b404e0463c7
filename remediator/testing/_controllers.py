"""The fake kube-controller-manager and kubelet, driven by the timeline.

Every committed change queues a controller pass over its namespace `controller_delay_s`
later (controllers relate objects within one namespace only, and nothing reacts to Events
or Leases); a pass runs each controller once, and what it changes queues the next pass,
until the namespace settles. The kubelet and the garbage collector schedule their own
work. In instant mode every delay is zero and the server runs the timeline before it
answers, so a write's response already shows the settled cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from remediator.testing._base import Context
from remediator.testing._deletion import Deleter
from remediator.testing._deployment import DeploymentController
from remediator.testing._disruption import DisruptionController
from remediator.testing._job import JobController
from remediator.testing._kubelet import Kubelet
from remediator.testing._logs import LogStore
from remediator.testing._replicaset import ReplicaSetController
from remediator.testing._sets import DaemonSetController, StatefulSetController
from remediator.testing._store import Obj, Store
from remediator.testing._timing import Timeline, Timing

_INERT_KINDS = frozenset({"Event", "Lease"})
_SEED_PASSES = 20


class Controllers:
    def __init__(self, store: Store, timing: Timing) -> None:
        self.store = store
        self.timing = timing
        self.timeline = Timeline(store)
        self.logs = LogStore()
        self.deleter = Deleter(store, self.timeline, timing)
        self.ctx = Context(store, self.timeline, timing, self.deleter)
        self.kubelet = Kubelet(store, self.timeline, timing, self.logs)
        self.deployments = DeploymentController(self.ctx)
        self.replicasets = ReplicaSetController(self.ctx)
        self.statefulsets = StatefulSetController(self.ctx)
        self.daemonsets = DaemonSetController(self.ctx)
        self.jobs = JobController(self.ctx)
        self.disruption = DisruptionController(self.ctx)
        store.listeners.extend([self._on_change, self.kubelet.on_change, self.deleter.on_change])

    @property
    def instant(self) -> bool:
        return self.timing.is_instant

    def _on_change(self, event: str, kind: str, obj: Obj, old: Obj | None) -> None:
        if kind in _INERT_KINDS:
            return
        namespace = obj["metadata"].get("namespace", "")
        if namespace:
            self.timeline.after(
                self.timing.controller_delay_s, lambda: self.sync(namespace), key=f"sync/{namespace}"
            )

    # --- entry points ----------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Run all work the clock has reached: called before every request is answered."""
        self.timeline.run_due()

    def after_write(self) -> None:
        """In instant mode a write's response shows the settled cluster; otherwise nothing runs yet."""
        if self.instant:
            self.timeline.run_due()

    def complete(self) -> None:
        """Start every pod held Pending (manual rollouts) and fast-forward all pending work to now."""
        for pod in self.store.items("Pod"):
            held = pod["status"].get("phase") == "Pending" and not pod["metadata"].get("deletionTimestamp")
            if held and self.kubelet.script_for(pod).outcome != "pending":
                self.kubelet.start_now(pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.kubelet.hurry = True
        try:
            self.timeline.run_due(clamp=True)
        finally:
            self.kubelet.hurry = False

    @contextmanager
    def seeding(self) -> Iterator[None]:
        """Build settled objects: nothing is scheduled, pods are born Running, deletions are immediate."""
        with self.timeline.paused():
            self.ctx.seeding = True
            try:
                yield
            finally:
                self.ctx.seeding = False

    def settle_seeded(self, namespace: str) -> None:
        """Run controller passes over a seeded namespace until nothing changes."""
        with self.seeding():
            for _ in range(_SEED_PASSES):
                before = self.store.revision
                self.sync(namespace, ignore_pause=True)
                if self.store.revision == before:
                    return
        raise RuntimeError(f"FakeKubeServer: seeded namespace {namespace!r} did not settle")

    # --- one pass --------------------------------------------------------------------------------

    def sync(self, namespace: str, *, ignore_pause: bool = False) -> None:
        ns = self.store.get("Namespace", "", namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            self.jobs.release_orphans(namespace)
            return  # a terminating namespace accepts no new content
        for dep in self.store.items("Deployment", namespace):
            self.deployments.sync(dep, ignore_pause=ignore_pause)
        for rs in self.store.items("ReplicaSet", namespace):
            self.replicasets.sync(rs)
        for sts in self.store.items("StatefulSet", namespace):
            self.statefulsets.sync(sts)
        for ds in self.store.items("DaemonSet", namespace):
            self.daemonsets.sync(ds)
        for dep in self.store.items("Deployment", namespace):
            self.deployments.refresh_status(dep, ignore_pause=ignore_pause)
        for job in self.store.items("Job", namespace):
            self.jobs.sync(job)
        self.jobs.release_orphans(namespace)
        for pdb in self.store.items("PodDisruptionBudget", namespace):
            self.disruption.sync(pdb)
