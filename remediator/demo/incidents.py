"""The sample incidents the demo fires, one per runbook, and what each must lead to.

Each incident is a set of Alertmanager alerts fired at a simulated time; an alert that the fix
cures resolves a little later (as Prometheus would see the errors stop), one that it does not
keeps firing. Labels and annotations are those of the captured Alertmanager payloads
(examples/alerts/), so the shipped rules meet what they meet in production.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from remediator.demo.shop import NAMESPACE
from remediator.testing import FakeKubeServer


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleAlert:
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    resolves_after_s: float | None = None
    """The fix works: the alert resolves this long after it fired. None: it keeps firing."""

    @property
    def fingerprint(self) -> str:
        text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def where(self) -> str:
        workload = self.labels.get("deployment") or self.labels.get("service") or "?"
        return f"{self.labels.get('namespace', '?')}/{workload}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleIncident:
    title: str
    runbook: str
    """What the runbook says, in one line: the demo prints it before the incident."""
    at_s: float
    """When it fires, in simulated seconds after the first one."""
    alerts: Callable[[FakeKubeServer], tuple[SampleAlert, ...]]
    """Built when it fires: some labels (an OOM-killed pod's name) come from the cluster as it is then."""
    rules: tuple[str, ...] = field(default=())
    """The shipped rules it is about."""


def _labels(alertname: str, deployment: str, severity: str, **extra: str) -> dict[str, str]:
    return {
        "alertname": alertname,
        "namespace": NAMESPACE,
        "deployment": deployment,
        "service": deployment,
        "severity": severity,
        **extra,
    }


def _errors(kube: FakeKubeServer) -> tuple[SampleAlert, ...]:
    return (
        SampleAlert(
            labels=_labels("HighErrorRate", "checkout", "critical", team="payments"),
            annotations={
                "summary": "checkout 5xx at 42.5/min (threshold 10/min)",
                "description": "HTTP 5xx responses above 10 per minute for 2m",
                "runbook_url": "https://runbooks.example.com/api-down",
                "value": "42.5",
            },
            resolves_after_s=90,
        ),
    )


def _rate_limited(kube: FakeKubeServer) -> tuple[SampleAlert, ...]:
    return (
        SampleAlert(
            labels=_labels("RateLimited", "image-gen", "warning", provider="ideogram"),
            annotations={"summary": "ideogram 429 responses at 12/min (threshold 5/min)", "value": "12"},
            resolves_after_s=120,
        ),
    )


def _auth(kube: FakeKubeServer) -> tuple[SampleAlert, ...]:
    def alert(deployment: str, code: str, value: str, resolves: float | None) -> SampleAlert:
        return SampleAlert(
            labels=_labels("AuthFailures", deployment, "critical", status_code=code),
            annotations={"summary": f"{deployment} upstream auth failures ({code})", "value": value},
            resolves_after_s=resolves,
        )

    # The worker reads a key that was rotated wrongly: restarting it does not help.
    return (
        alert("image-gen", "401", "3", 60),
        alert("image-gen-worker", "403", "1", None),
        alert("search", "401", "12", 75),
    )


def _latency(kube: FakeKubeServer) -> tuple[SampleAlert, ...]:
    return (
        SampleAlert(
            labels=_labels("HighLatency", "search", "warning", quantile="0.99"),
            annotations={"summary": "search p99 latency 7.3s (threshold 5s)", "value": "7.3"},
            resolves_after_s=240,
        ),
    )


def oom_victim(kube: FakeKubeServer) -> str:
    """The checkout pod that gets OOM-killed: the first Running one, by name."""
    pods = [
        p
        for p in kube.list("Pod", NAMESPACE)
        if (p["metadata"].get("labels") or {}).get("app") == "checkout"
        and not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") == "Running"
    ]
    if not pods:
        raise RuntimeError("the demo shop has no Running checkout pod to OOM-kill")
    return str(pods[0]["metadata"]["name"])


def _oom(kube: FakeKubeServer) -> tuple[SampleAlert, ...]:
    pod = oom_victim(kube)
    return (
        SampleAlert(
            labels=_labels("PodOOMKilled", "checkout", "warning", pod=pod, container="app"),
            annotations={"summary": f"{pod} OOM-killed (limit 512Mi)", "value": "1"},
            resolves_after_s=30,
        ),
    )


def _poison(kube: FakeKubeServer) -> tuple[SampleAlert, ...]:
    return (
        SampleAlert(
            labels={
                "alertname": "PoisonMessage",
                "namespace": NAMESPACE,
                "service": "image-gen",
                "queue": "image-jobs",
                "severity": "warning",
            },
            annotations={"summary": "image-jobs: one message crashed 5 workers in 2m", "value": "5"},
        ),
    )


INCIDENTS: tuple[SampleIncident, ...] = (
    SampleIncident(
        title="5xx right after a deploy",
        runbook="did it start right after a deploy? yes: roll back; no: restart; page if it does not clear",
        at_s=0,
        alerts=_errors,
        rules=("rollback-on-5xx-after-deploy", "restart-on-5xx-without-deploy"),
    ),
    SampleIncident(
        title="429s from a provider",
        runbook="switch the service to queued requests (RATE_LIMIT_MODE=queue)",
        at_s=180,
        alerts=_rate_limited,
        rules=("queue-requests-when-rate-limited",),
    ),
    SampleIncident(
        title="upstream auth failures",
        runbook="restart to pick up the rotated key; if that does not clear it, the key is wrong: page P1",
        at_s=360,
        alerts=_auth,
        rules=("restart-on-auth-failures",),
    ),
    SampleIncident(
        title="p99 latency above 5s",
        runbook="add two replicas at a time, between 2 and 20",
        at_s=480,
        alerts=_latency,
        rules=("scale-up-on-high-latency",),
    ),
    SampleIncident(
        title="a pod OOM-killed",
        runbook="delete exactly that pod so its ReplicaSet replaces it fresh",
        at_s=600,
        alerts=_oom,
        rules=("delete-oom-killed-pod",),
    ),
    SampleIncident(
        title="a poison message crashes the workers",
        runbook="stop the workers (scale to 0) until a human drained the queue: too dangerous unattended",
        at_s=1020,  # after the worker's auth incident ended: one action per target at a time
        alerts=_poison,
        rules=("stop-workers-on-poison-message",),
    ),
)
