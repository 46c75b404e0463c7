"""What `remediator demo --once` requires: every expected step of every sample incident happened.

Each check reads the outcome where a human would: the incident timeline (the console's read model),
the pending approvals, the fake cluster's objects and what the fake PagerDuty received. A check
returns None when the step happened, else what is missing; `--once` exits 0 only if none is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from remediator.demo.outside import OutsideWorld
from remediator.demo.shop import NAMESPACE
from remediator.store import ReadModel
from remediator.testing import FakeKubeServer

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass(kw_only=True)
class Evidence:
    """Where the checks look."""

    journal: ReadModel
    kube: FakeKubeServer
    outside: OutsideWorld
    incidents: dict[tuple[str, str], str]
    """(alertname, deployment or service) -> incident id."""
    oom_pod: str = ""

    async def events(self, alertname: str, workload: str) -> list[dict[str, Any]]:
        incident = self.incidents.get((alertname, workload))
        if incident is None:
            return []
        timeline = await self.journal.incident_timeline(incident)
        return list(timeline["events"]) if timeline else []

    def deployment(self, name: str) -> dict[str, Any]:
        return self.kube.get("Deployment", NAMESPACE, name) or {}


def _container(dep: Mapping[str, Any]) -> dict[str, Any]:
    containers = dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    return dict(containers[0])


async def _verified_execution(
    ev: Evidence, alertname: str, workload: str, rule: str, *, verified: bool = True
) -> str | None:
    """None if `rule` acted on `workload` and its execution succeeded (and was verified, if asked)."""
    events = await ev.events(alertname, workload)
    decisions = [e for e in events if e["type"] == "decision" and e["rule"] == rule]
    if not decisions:
        return f"no decision by {rule} for {alertname} on {workload}"
    if decisions[0]["outcome"] != "act":
        return f"{rule} decided {decisions[0]['outcome']}: {decisions[0]['reason']}"
    executions = [e for e in events if e["type"] == "execution" and e["rule"] == rule]
    if not executions:
        return f"{rule} decided to act but no execution is recorded"
    last = executions[-1]
    if last["status"] != "succeeded":
        return f"execution #{last['execution_id']} is {last['status']}: {last.get('error') or ''}"
    if verified and "verified" not in (last.get("summary") or ""):
        return f"execution #{last['execution_id']} succeeded unverified: {last.get('summary')}"
    return None


async def rolled_back(ev: Evidence) -> str | None:
    problem = await _verified_execution(ev, "HighErrorRate", "checkout", "rollback-on-5xx-after-deploy")
    image = _container(ev.deployment("checkout")).get("image")
    return problem or (None if image == "checkout:v1" else f"checkout runs {image!r}, not 'checkout:v1'")


async def restart_stood_aside(ev: Evidence) -> str | None:
    """The restart rule matches the same alert; it must not act on top of the rollback (in_flight while
    the rollback runs, not_applicable after it: a rollout happened within 2h)."""
    events = await ev.events("HighErrorRate", "checkout")
    rule = "restart-on-5xx-without-deploy"
    outcomes = [e["outcome"] for e in events if e["type"] == "decision" and e["rule"] == rule]
    acted = [e for e in events if e["type"] == "execution" and e["rule"] == rule]
    if not outcomes or "act" in outcomes or acted:
        return f"{rule} decided {outcomes}"
    return None


async def queued(ev: Evidence) -> str | None:
    problem = await _verified_execution(ev, "RateLimited", "image-gen", "queue-requests-when-rate-limited")
    env = {e.get("name"): e.get("value") for e in _container(ev.deployment("image-gen")).get("env") or []}
    mode = env.get("RATE_LIMIT_MODE")
    return problem or (None if mode == "queue" else f"image-gen has RATE_LIMIT_MODE={mode!r}")


async def restarted(ev: Evidence) -> str | None:
    for name in ("image-gen", "search"):
        problem = await _verified_execution(ev, "AuthFailures", name, "restart-on-auth-failures")
        if problem:
            return problem
        annotations = (
            ev.deployment(name).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations")
        )
        if RESTARTED_AT not in (annotations or {}):
            return f"{name}'s pod template has no {RESTARTED_AT} annotation"
    return None


async def paged(ev: Evidence) -> str | None:
    events = await ev.events("AuthFailures", "image-gen-worker")
    executions = [e for e in events if e["type"] == "execution"]
    if (
        not executions
        or executions[-1]["status"] != "failed"
        or "not verified" not in (executions[-1]["error"] or "")
    ):
        return f"the worker's restart should end 'not verified', got {[e['status'] for e in executions]}"
    escalations = [e for e in events if e["type"] == "escalation" and e["dest"] == "pagerduty"]
    if not escalations or escalations[0]["status"] != "accepted":
        return f"no accepted PagerDuty escalation in the worker's timeline: {escalations}"
    pages = [p for p in ev.outside.pages if p.action == "trigger" and "image-gen-worker" in p.dedup_key]
    if not pages or pages[0].severity != "critical":
        return f"PagerDuty did not receive a critical page for image-gen-worker: {ev.outside.pages}"
    return None


async def scaled(ev: Evidence) -> str | None:
    problem = await _verified_execution(ev, "HighLatency", "search", "scale-up-on-high-latency")
    replicas = ev.deployment("search").get("spec", {}).get("replicas")
    return problem or (None if replicas == 4 else f"search has {replicas} replicas, not 4")


async def pod_deleted(ev: Evidence) -> str | None:
    problem = await _verified_execution(
        ev, "PodOOMKilled", "checkout", "delete-oom-killed-pod", verified=False
    )
    pod = ev.kube.get("Pod", NAMESPACE, ev.oom_pod)
    if problem:
        return problem
    if pod is not None and not pod["metadata"].get("deletionTimestamp"):
        return f"pod {ev.oom_pod} is still there"
    return None


async def awaiting_approval(ev: Evidence) -> str | None:
    pending = await ev.journal.list_approvals(status="pending")
    mine = [a for a in pending if a["rule"] == "stop-workers-on-poison-message"]
    if len(mine) != 1 or mine[0]["target"] != f"{NAMESPACE}/Deployment/image-gen-worker":
        return f"expected one pending approval for image-gen-worker, got {pending}"
    replicas = ev.deployment("image-gen-worker").get("spec", {}).get("replicas")
    return None if replicas == 2 else f"image-gen-worker has {replicas} replicas before anyone approved"


CHECKS: tuple[tuple[str, Callable[[Evidence], Awaitable[str | None]]], ...] = (
    ("5xx after a deploy: checkout rolled back to checkout:v1, verified", rolled_back),
    ("5xx after a deploy: the restart rule did not act on top of the rollback", restart_stood_aside),
    ("429s: image-gen switched to RATE_LIMIT_MODE=queue, verified", queued),
    ("auth failures: image-gen and search restarted, verified", restarted),
    ("auth failures: image-gen-worker not fixed by a restart, paged PagerDuty (critical)", paged),
    ("p99: search scaled from 2 to 4 replicas, verified", scaled),
    ("OOM: the OOM-killed checkout pod deleted", pod_deleted),
    ("poison message: stopping the workers waits for a human; nothing changed", awaiting_approval),
)
