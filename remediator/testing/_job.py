"""The Job controller (batch/v1): owned pods, their outcomes counted, Complete or Failed.

What a one-off remediation Job sees on a current cluster: pods named `<job>-<suffix>`
carrying the `batch.kubernetes.io/job-tracking` finalizer until counted; status `active`,
`ready`, `succeeded`, `failed`, `terminating`, `startTime`, `uncountedTerminatedPods`;
on success first `SuccessCriteriaMet` then `Complete` (reason CompletionsReached) with
`completionTime`; once failures exceed `backoffLimit` (default 6), `FailureTarget` then
`Failed` (reason BackoffLimitExceeded), after the remaining pods are deleted. Replacement
pods wait an exponential back-off (10s doubling) after each failure. A finished Job with
`ttlSecondsAfterFinished` is deleted (foreground, with its pods) that long after it finished.
1.28 added neither interim condition (Complete and Failed came directly, Complete without a
reason), so clients must look at the Complete/Failed types only.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from remediator.testing._base import Context, drop_zero, parse_time
from remediator.testing._pods import is_active, is_ready, is_terminal
from remediator.testing._store import Obj

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
_BACKOFF_S = 10
_BACKOFF_CAP_S = 360
_SUCCESS = ("CompletionsReached", "Reached expected number of succeeded pods")
_BACKOFF_LIMIT = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
_DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")


def _condition(kind: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def finished(job: Obj) -> str | None:
    """ "Complete" or "Failed" once the Job is done, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


class JobController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._counted: dict[str, dict[str, str]] = {}
        """Per Job uid: pod uid -> "succeeded" or "failed", the outcomes already in status."""

    def sync(self, job: Obj) -> None:
        store = self.ctx.store
        job = store.get("Job", job["metadata"]["namespace"], job["metadata"]["name"]) or job
        meta, spec = job["metadata"], job["spec"]
        counted = self._counted.setdefault(meta["uid"], {})
        pods = self.ctx.owned("Pod", job)
        status: dict[str, Any] = copy.deepcopy(job.get("status") or {})
        now = self.ctx.now_str()
        # Count finished pods (and pods deleted before finishing, which count as failed).
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if uid in counted:
                continue
            phase = pod["status"].get("phase")
            if phase == "Succeeded":
                counted[uid] = "succeeded"
            elif phase == "Failed" or (pod["metadata"].get("deletionTimestamp") and not is_terminal(pod)):
                counted[uid] = "failed"
        for pod in pods:  # counted pods lose the tracking finalizer, so they can go
            if pod["metadata"]["uid"] in counted and TRACKING_FINALIZER in (
                pod["metadata"].get("finalizers") or []
            ):
                self._release(pod)
        succeeded = sum(1 for v in counted.values() if v == "succeeded")
        failed = sum(1 for v in counted.values() if v == "failed")
        if finished(job):
            self._expire(job)
            return
        if spec.get("suspend"):
            return
        status.setdefault("startTime", now)
        active = [p for p in pods if is_active(p)]
        terminating = [p for p in pods if p["metadata"].get("deletionTimestamp") and not is_terminal(p)]
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        target = conditions.get("SuccessCriteriaMet") or conditions.get("FailureTarget")
        if target is None:
            completions = spec.get("completions")
            started = parse_time(status["startTime"])
            deadline = spec.get("activeDeadlineSeconds")
            if failed > spec.get("backoffLimit", 6):
                target = conditions["FailureTarget"] = _condition("FailureTarget", *_BACKOFF_LIMIT, now)
            elif deadline is not None and self.ctx.store.now() >= started + timedelta(seconds=deadline):
                target = conditions["FailureTarget"] = _condition("FailureTarget", *_DEADLINE, now)
            elif (completions is None and succeeded > 0 and not active) or (
                completions is not None and succeeded >= completions and not active
            ):
                target = conditions["SuccessCriteriaMet"] = _condition("SuccessCriteriaMet", *_SUCCESS, now)
            else:
                self._manage(job, active, succeeded, failed, counted)
                if deadline is not None:
                    ns, name = meta["namespace"], meta["name"]
                    self.ctx.timeline.at(
                        started + timedelta(seconds=deadline),
                        lambda: self.sync(self.ctx.store.get("Job", ns, name) or job),
                        key=f"deadline/job/{ns}/{name}",
                    )
        if target is not None and target["type"] == "FailureTarget":
            for pod in active:
                self.ctx.delete_pod(pod)
        pods = self.ctx.owned("Pod", job)
        active = [p for p in pods if is_active(p)]
        terminating = [p for p in pods if p["metadata"].get("deletionTimestamp") and not is_terminal(p)]
        if target is not None and not active and not terminating:
            final = "Complete" if target["type"] == "SuccessCriteriaMet" else "Failed"
            conditions[final] = _condition(final, target["reason"], target["message"], now)
            if final == "Complete":
                status["completionTime"] = now
        status.update(
            {
                "active": len(active),
                "ready": sum(1 for p in active if is_ready(p)),
                "succeeded": succeeded,
                "failed": failed,
                "terminating": len(terminating),
                "uncountedTerminatedPods": {},
            }
        )
        order = ("FailureTarget", "SuccessCriteriaMet", "Failed", "Complete")
        if conditions:
            status["conditions"] = [conditions[t] for t in order if t in conditions]
        self.ctx.save_status("Job", job, drop_zero(status, "ready", "terminating"))

    def _expire(self, job: Obj) -> None:
        """The TTL-after-finished controller: delete a finished Job (foreground) once its TTL is up."""
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None or job["metadata"].get("deletionTimestamp"):
            return
        done = next(c for c in job["status"]["conditions"] if c["type"] in ("Complete", "Failed"))
        due = parse_time(done["lastTransitionTime"]) + timedelta(seconds=ttl)
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        if self.ctx.store.now() >= due:
            self.ctx.deleter.delete("Job", ns, name, policy="Foreground")
        else:
            self.ctx.timeline.at(
                due, lambda: self.sync(self.ctx.store.get("Job", ns, name) or job), key=f"ttl/{ns}/{name}"
            )

    def _manage(
        self, job: Obj, active: list[Obj], succeeded: int, failed: int, counted: dict[str, str]
    ) -> None:
        spec = job["spec"]
        completions = spec.get("completions")
        parallelism = spec.get("parallelism", 1)
        want = parallelism if completions is None else min(parallelism, completions - succeeded)
        if succeeded > 0 and completions is None:
            want = 0  # a work-queue Job: no new pods once one succeeded
        missing = want - len(active)
        if missing <= 0:
            return
        if failed:
            delay = min(_BACKOFF_S * 2 ** (failed - 1), _BACKOFF_CAP_S)
            last = self._last_failure(job, counted)
            due = last + timedelta(seconds=delay) if last is not None else None
            if due is not None and due > self.ctx.store.now():
                ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
                self.ctx.timeline.at(
                    due,
                    lambda: self.sync(self.ctx.store.get("Job", ns, name) or job),
                    key=f"backoff/{ns}/{name}",
                )
                return
        ns = job["metadata"]["namespace"]
        for _ in range(missing):
            name = self.ctx.store.unique_name("Pod", ns, f"{job['metadata']['name']}-")
            self.ctx.create_pod(job, name=name, finalizers=[TRACKING_FINALIZER])

    def _last_failure(self, job: Obj, counted: dict[str, str]) -> Any:
        times = []
        for pod in self.ctx.owned("Pod", job):
            if counted.get(pod["metadata"]["uid"]) != "failed":
                continue
            for s in pod["status"].get("containerStatuses") or []:
                finished_at = ((s.get("state") or {}).get("terminated") or {}).get("finishedAt")
                if finished_at:
                    times.append(parse_time(finished_at))
        return max(times, default=None)

    def _release(self, pod: Obj) -> None:
        updated = copy.deepcopy(pod)
        updated["metadata"]["finalizers"] = [
            f for f in pod["metadata"].get("finalizers") or [] if f != TRACKING_FINALIZER
        ]
        if not updated["metadata"]["finalizers"]:
            del updated["metadata"]["finalizers"]
        self.ctx.store.save("Pod", updated)
        self.ctx.deleter.finalize("Pod", updated)

    def release_orphans(self, namespace: str) -> None:
        """Pods still tracked by a Job that is gone: drop the finalizer (the orphan worker)."""
        for pod in self.ctx.store.items("Pod", namespace):
            if TRACKING_FINALIZER not in (pod["metadata"].get("finalizers") or []):
                continue
            refs = pod["metadata"].get("ownerReferences") or []
            job_ref = next((r for r in refs if r.get("kind") == "Job" and r.get("controller")), None)
            if job_ref is None or self.ctx.store.by_uid(job_ref["uid"], namespace) is None:
                self._release(pod)
