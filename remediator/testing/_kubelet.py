"""The fake cluster's kubelet: starts pods, runs their scripted outcome, confirms their deletion.

Every pod a controller or a client creates starts Pending and becomes Running and Ready
after `Timing.pod_start_s`. Tests script other outcomes per pod, image, label or Job
(`FakeKubeServer.set_pod_outcome`): never ready (a rollout that stalls), crash-looping
(CrashLoopBackOff with growing restart counts, a previous log and the kubelet's `BackOff`
Warning Event counted up on each restart), or, for Job pods,
exiting 0 or non-zero after a run time. A deleted pod stays listed with its
deletionTimestamp until the kubelet confirms the kill: after `Timing.pod_stop_s`, or the
whole grace period by default.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from remediator.testing._events import kubelet_event
from remediator.testing._logs import LogStore
from remediator.testing._pods import PodState, host_ip_of, is_terminal, is_terminating, pod_status
from remediator.testing._selectors import matches_labels, parse_label_selector
from remediator.testing._store import Obj, Store, format_time
from remediator.testing._timing import Timeline, Timing

Outcome = Literal["ready", "unready", "crash", "succeed", "fail", "pending"]
OUTCOMES: tuple[Outcome, ...] = ("ready", "unready", "crash", "succeed", "fail", "pending")
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
_BACKOFF_CAP_S = 300
"""The kubelet's crash-loop back-off doubles from 10s up to five minutes."""


@dataclass(frozen=True, kw_only=True)
class PodScript:
    """What matching pods do once started; the most recently added matching script wins."""

    outcome: Outcome
    namespace: str | None = None
    pod: str | None = None
    job: str | None = None
    image: str | None = None
    selector: str | None = None
    after_s: float | None = None
    exit_code: int | None = None
    log: str | None = None

    def matches(self, pod: Mapping[str, Any]) -> bool:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        images = {c.get("image") for c in pod["spec"].get("containers") or []}
        return (
            (self.namespace is None or meta.get("namespace") == self.namespace)
            and (self.pod is None or meta["name"] == self.pod)
            and (self.job is None or labels.get(JOB_NAME_LABEL) == self.job)
            and (self.image is None or self.image in images)
            and (self.selector is None or matches_labels(labels, parse_label_selector(self.selector)))
        )


def _restart_policy(pod: Mapping[str, Any]) -> str:
    return str(pod["spec"].get("restartPolicy", "Always"))


class Kubelet:
    def __init__(self, store: Store, timeline: Timeline, timing: Timing, logs: LogStore) -> None:
        self.store = store
        self.timeline = timeline
        self.timing = timing
        self.logs = logs
        self.scripts: list[PodScript] = []
        self.hurry = False
        """While set (`complete_rollouts`), pods start at once, even those a manual timing holds."""
        self._events: dict[tuple[str, str, str], str] = {}
        """(pod uid, container, reason) -> the name of the Event the recorder aggregates into."""

    # --- reacting to the API ---------------------------------------------------------------------

    def on_change(self, event: str, kind: str, obj: Obj, old: Obj | None) -> None:
        if kind != "Pod":
            return
        meta = obj["metadata"]
        uid = meta["uid"]
        if event == "DELETED":
            self.logs.forget(meta["namespace"], meta["name"])
            for key in ("start", "exit", "crash/run", "stop"):
                self.timeline.cancel(f"{key}/{uid}")
            return
        created_pending = event == "ADDED" and obj["status"].get("phase") == "Pending"
        if created_pending and not is_terminating(obj) and self.script_for(obj).outcome != "pending":
            self._schedule_start(obj)
        if is_terminating(obj) and (old is None or self._stop_changed(obj, old)):
            self._schedule_stop(obj)

    @staticmethod
    def _stop_changed(obj: Obj, old: Obj) -> bool:
        return bool(old["metadata"].get("deletionTimestamp") != obj["metadata"].get("deletionTimestamp"))

    def _schedule_start(self, pod: Obj) -> None:
        ns, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        delay = 0.0 if self.hurry else self.timing.pod_start_s
        self.timeline.after(delay, lambda: self._start(ns, name, uid), key=f"start/{uid}")

    def _schedule_stop(self, pod: Obj) -> None:
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        deadline = datetime.fromisoformat(meta["deletionTimestamp"].replace("Z", "+00:00"))
        started = pod["status"].get("phase") != "Pending"
        wait = self.timing.pod_stop_s if started else 0.0
        due = deadline if wait is None else min(deadline, self.timeline.now() + timedelta(seconds=wait))
        self.timeline.cancel(f"stop/{uid}")
        self.timeline.at(max(due, self.timeline.now()), lambda: self._stop(ns, name, uid), key=f"stop/{uid}")

    # --- scripts ---------------------------------------------------------------------------------

    def script_for(self, pod: Mapping[str, Any]) -> PodScript:
        for script in reversed(self.scripts):
            if script.matches(pod):
                return script
        default: Outcome = "ready" if _restart_policy(pod) == "Always" else "succeed"
        return PodScript(outcome=default)

    def add_script(self, script: PodScript, *, existing: bool = True) -> list[str]:
        """Add a script and, with `existing`, apply it now to matching pods not finished or terminating.

        Returns the names of the pods it applied to. Pending pods start on their usual
        schedule (at once if they were held back); running pods switch behaviour now."""
        self.scripts.append(script)
        applied: list[str] = []
        if not existing:
            return applied
        for pod in self.store.items("Pod", script.namespace):
            if not script.matches(pod) or is_terminal(pod) or is_terminating(pod):
                continue
            applied.append(pod["metadata"]["name"])
            uid = pod["metadata"]["uid"]
            for key in ("exit", "crash/run"):
                self.timeline.cancel(f"{key}/{uid}")
            if pod["status"].get("phase") == "Pending":
                if script.outcome != "pending" and not self.timeline.pending(f"start/{uid}"):
                    self._schedule_start(pod)
            else:
                self._run(pod, script)
        return applied

    # --- lifecycle -------------------------------------------------------------------------------

    def _current(self, ns: str, name: str, uid: str) -> Obj | None:
        pod = self.store.get("Pod", ns, name)
        return pod if pod is not None and pod["metadata"]["uid"] == uid else None

    def start_now(self, ns: str, name: str) -> None:
        pod = self.store.get("Pod", ns, name)
        if pod is not None:
            self.timeline.cancel(f"start/{pod['metadata']['uid']}")
            self._start(ns, name, pod["metadata"]["uid"])

    def _start(self, ns: str, name: str, uid: str) -> None:
        pod = self._current(ns, name, uid)
        if pod is None or pod["status"].get("phase") != "Pending" or is_terminating(pod):
            return
        self._run(pod, self.script_for(pod), started=True)

    def _run(self, pod: Obj, script: PodScript, *, started: bool = False) -> None:
        """Enter the script's behaviour now: ready, unready, crash-looping, or running until its exit."""
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        policy = _restart_policy(pod)
        outcome = script.outcome
        if outcome in ("succeed", "fail") and policy == "Always":
            outcome = "crash"  # a container of an Always pod that exits is restarted
        if outcome == "crash" and policy == "Never":
            outcome = "fail"
        if started and script.log and outcome not in ("crash", "succeed", "fail"):
            self._log(pod, script.log)
        if outcome == "crash":
            self._crash(ns, name, uid, script, restarts=self._restarts(pod) + 1)
            return
        self._set_state(pod, "unready" if outcome == "unready" else "ready", fresh=started)
        if outcome in ("succeed", "fail"):
            run_s = script.after_s if script.after_s is not None else self.timing.job_pod_run_s
            ok = outcome == "succeed"
            self.timeline.after(
                run_s, lambda: self._exit(ns, name, uid, ok, script.exit_code, script.log), key=f"exit/{uid}"
            )

    def _restarts(self, pod: Obj) -> int:
        return max(
            (s.get("restartCount", 0) for s in pod["status"].get("containerStatuses") or []), default=0
        )

    def _crash(self, ns: str, name: str, uid: str, script: PodScript, *, restarts: int) -> None:
        pod = self._current(ns, name, uid)
        if pod is None or is_terminating(pod):
            return
        for c in pod["spec"].get("containers") or []:
            if script.log:
                self.logs.write(ns, name, c["name"], script.log, at=self.store.now())
            self.logs.restart(ns, name, c["name"])
        back_off = min(10 * 2 ** (restarts - 1), _BACKOFF_CAP_S)
        self._set_state(
            pod, "crashloop", restarts=restarts, exit_code=script.exit_code, back_off_s=back_off, fresh=False
        )
        for c in pod["spec"].get("containers") or []:
            message = f"Back-off restarting failed container {c['name']} in pod {name}_{ns}({uid})"
            self._record_event(pod, c["name"], "BackOff", message)
        # The restarted container crashes again at once; the back-off is what spaces restarts.
        self.timeline.after(
            back_off,
            lambda: self._crash(ns, name, uid, script, restarts=restarts + 1),
            key=f"crash/run/{uid}",
        )

    def _exit(self, ns: str, name: str, uid: str, ok: bool, code: int | None, log: str | None) -> None:
        pod = self._current(ns, name, uid)
        if pod is None or is_terminal(pod):
            return
        if log:
            self._log(pod, log)
        if _restart_policy(pod) == "OnFailure" and not ok:
            self._crash(
                ns, name, uid, PodScript(outcome="crash", exit_code=code), restarts=self._restarts(pod) + 1
            )
            return
        self._set_state(pod, "succeeded" if ok else "failed", exit_code=code, fresh=False)

    def finish(self, ns: str, name: str, *, ok: bool, exit_code: int | None, log: str | None) -> None:
        pod = self.store.get("Pod", ns, name)
        if pod is None:
            raise ValueError(f"finish_pod: Pod {ns}/{name} does not exist")
        if is_terminal(pod):
            raise ValueError(f"finish_pod: Pod {ns}/{name} already finished ({pod['status']['phase']})")
        uid = pod["metadata"]["uid"]
        for key in ("start", "exit", "crash/run"):
            self.timeline.cancel(f"{key}/{uid}")
        if pod["status"].get("phase") == "Pending":
            self._set_state(pod, "ready", fresh=True)
        self._exit(ns, name, uid, ok, exit_code, log)

    def _stop(self, ns: str, name: str, uid: str) -> None:
        """The containers are gone: the kubelet's final delete (grace 0). Finalizers keep the pod."""
        pod = self._current(ns, name, uid)
        if pod is None:
            return
        if pod["metadata"].get("finalizers"):
            stopped = copy.deepcopy(pod)
            stopped["metadata"]["deletionGracePeriodSeconds"] = 0
            if not is_terminal(pod):
                self._apply_state(
                    stopped, "failed", exit_code=137 if pod["status"]["phase"] != "Pending" else None
                )
            self.store.save("Pod", stopped)
            return
        self.store.remove("Pod", ns, name)

    # --- events ----------------------------------------------------------------------------------

    def _record_event(self, pod: Obj, container: str, reason: str, message: str) -> None:
        """Record a Warning Event on the pod's container, as the kubelet's recorder does: the first one
        is created (named `<pod>.<unix nanos in hex>`), a repeat bumps its count and lastTimestamp."""
        ns, uid = pod["metadata"]["namespace"], pod["metadata"]["uid"]
        now = self.store.now()
        key = (uid, container, reason)
        existing = self.store.get("Event", ns, self._events.get(key, ""))
        if existing is not None:
            updated = copy.deepcopy(existing)
            updated["count"] = int(updated.get("count") or 1) + 1
            updated["lastTimestamp"] = format_time(now)
            updated["message"] = message
            self.store.save("Event", updated)
            return
        nanos = int(now.timestamp() * 1e9)
        while self.store.get("Event", ns, f"{pod['metadata']['name']}.{nanos:x}") is not None:
            nanos += 1  # two containers at one instant: real clocks never tie
        name = f"{pod['metadata']['name']}.{nanos:x}"
        event = kubelet_event(
            pod, container=container, reason=reason, message=message, at=format_time(now), name=name
        )
        self._events[key] = name
        self.store.insert("Event", event)

    # --- status writes ---------------------------------------------------------------------------

    def _log(self, pod: Obj, text: str) -> None:
        for c in pod["spec"].get("containers") or []:
            self.logs.write(
                pod["metadata"]["namespace"], pod["metadata"]["name"], c["name"], text, at=self.store.now()
            )

    def _set_state(self, pod: Obj, state: PodState, *, fresh: bool, **kw: Any) -> None:
        updated = copy.deepcopy(pod)
        self._apply_state(updated, state, fresh=fresh, **kw)
        self.store.save("Pod", updated)

    def _apply_state(self, pod: Obj, state: PodState, *, fresh: bool = False, **kw: Any) -> None:
        status = pod.get("status") or {}
        meta = pod["metadata"]
        now = format_time(self.store.now())
        started = None
        if not fresh:
            for s in status.get("containerStatuses") or []:
                running = (s.get("state") or {}).get("running") or {}
                started = started or running.get("startedAt")
        pod_ip = (
            status.get("podIP") or f"10.244.{self.store.rng.randint(0, 255)}.{self.store.rng.randint(2, 254)}"
        )
        host_ip = status.get("hostIP") or host_ip_of(pod["spec"].get("nodeName", ""))
        pod["status"] = pod_status(
            pod["spec"],
            state=state,
            at=now,
            pod_ip=pod_ip,
            host_ip=host_ip,
            started_at=started,
            pod_ref=f"{meta['name']}_{meta['namespace']}({meta['uid']})",
            **kw,
        )
        extra = [c for c in status.get("conditions") or [] if c.get("type") == "DisruptionTarget"]
        pod["status"]["conditions"].extend(extra)
