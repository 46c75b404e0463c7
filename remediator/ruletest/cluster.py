"""The test's cluster: seed the fake API server before a test, read it back and compare after.

Seeding goes through `FakeKubeServer`'s helpers, which build what a real cluster would hold
(a Deployment's ReplicaSet per revision, backdated to `rolled_out`, and its Running pods), so
the actions under test read the same objects they would in production. Comparison reads the
objects back as the API server stores them and checks only the fields a test names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from remediator.ruletest.schema import (
    WORKLOAD_KINDS,
    ClusterSpec,
    DaemonSetSpec,
    DeploymentSpec,
    ExpectedCluster,
    ExpectedWorkload,
    NamespaceSpec,
    PodSpec,
    StatefulSetSpec,
    default_image,
)
from remediator.testing._objects import REVISION
from remediator.testing.fake_kube import FakeKubeServer

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldDiff:
    """One expected field of one object that the cluster does not hold."""

    kind: str
    key: str
    field: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.field}: expected {_show(self.expected)}, got {_show(self.got)}"


def seed(kube: FakeKubeServer, cluster: ClusterSpec, *, start: datetime) -> None:
    """Create every object of `cluster`; times in it are relative to `start`."""
    for name, ns in cluster.namespaces.items():
        ns = ns or NamespaceSpec()
        kube.add_namespace(name, labels=ns.labels, annotations=ns.annotations)
    for key, dep in cluster.deployments.items():
        dep = dep or DeploymentSpec()
        namespace, name = key.split("/")
        kube.add_deployment(
            namespace,
            name,
            replicas=dep.replicas,
            image=dep.image or default_image(key),
            revisions=dep.revisions,
            labels=dep.labels,
            annotations=dep.annotations,
            env=dep.env,
            containers=dep.containers,
            paused=dep.paused,
            rolled_out_at=start + timedelta(seconds=dep.rolled_out),
        )
    for key, sts in cluster.statefulsets.items():
        sts = sts or StatefulSetSpec()
        namespace, name = key.split("/")
        kube.add_statefulset(
            namespace,
            name,
            replicas=sts.replicas,
            image=sts.image or default_image(key),
            labels=sts.labels,
            annotations=sts.annotations,
        )
    for key, ds in cluster.daemonsets.items():
        ds = ds or DaemonSetSpec()
        namespace, name = key.split("/")
        kube.add_daemonset(
            namespace,
            name,
            image=ds.image or default_image(key),
            labels=ds.labels,
            annotations=ds.annotations,
        )
    for key, pod in cluster.pods.items():
        pod = pod or PodSpec()
        namespace, name = key.split("/")
        owner = _owner(kube, namespace, pod.owner) if pod.owner else None
        kube.add_pod(
            namespace, name, labels=pod.labels, phase=pod.phase, owner=owner, replacing=owner is not None
        )
    for key, pdb in cluster.disruption_budgets.items():
        namespace, name = key.split("/")
        kube.add_pdb(
            namespace,
            name,
            selector=pdb.selector,
            min_available=pdb.min_available,
            max_unavailable=pdb.max_unavailable,
        )
    for image, job in cluster.job_outcomes.items():
        kube.set_pod_outcome(job.outcome, image=image, exit_code=job.exit_code, log=job.log)


def _owner(kube: FakeKubeServer, namespace: str, spec: str) -> dict[str, Any]:
    """The object `Kind/name` names as a pod's controller: a Deployment's newest ReplicaSet."""
    kind, name = spec.split("/", 1)
    workload = kube.get(kind, namespace, name)
    if workload is None:
        raise ValueError(f"pod owner {spec!r}: no {kind} {namespace}/{name} in the cluster")
    if kind != "Deployment":
        return workload
    uid = workload["metadata"]["uid"]
    sets = [
        rs
        for rs in kube.list("ReplicaSet", namespace)
        if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences") or [])
    ]
    return max(sets, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION, "0")))


def compare(kube: FakeKubeServer, expected: ExpectedCluster) -> list[FieldDiff]:
    """Every expected field the cluster does not hold, in the order the test lists them."""
    diffs: list[FieldDiff] = []
    for section, kind in WORKLOAD_KINDS.items():
        wanted: Mapping[str, ExpectedWorkload] = getattr(expected, section)
        for key, want in wanted.items():
            namespace, name = key.split("/")
            obj = kube.get(kind, namespace, name)
            if obj is None:
                diffs.append(
                    FieldDiff(kind=kind, key=key, field="object", expected=Raw("present"), got=Raw("absent"))
                )
                continue
            diffs.extend(_compare_workload(kind, key, obj, want))
    for key, presence in expected.pods.items():
        namespace, name = key.split("/")
        pod = kube.get("Pod", namespace, name)
        got = "absent" if pod is None or pod["metadata"].get("deletionTimestamp") else "present"
        if got != presence:
            diffs.append(FieldDiff(kind="Pod", key=key, field="pod", expected=Raw(presence), got=Raw(got)))
    return diffs


def _compare_workload(kind: str, key: str, obj: dict[str, Any], want: ExpectedWorkload) -> list[FieldDiff]:
    diffs: list[FieldDiff] = []

    def check(field: str, expected: Any, got: Any) -> None:
        if expected != got:
            diffs.append(FieldDiff(kind=kind, key=key, field=field, expected=expected, got=got))

    template = obj.get("spec", {}).get("template", {})
    containers: list[dict[str, Any]] = template.get("spec", {}).get("containers") or []
    images = {str(c.get("name")): c.get("image") for c in containers}
    if want.image is not None:
        distinct = sorted({str(i) for i in images.values()})
        check("image", want.image, distinct[0] if len(distinct) == 1 else images)
    for container, image in (want.images or {}).items():
        check(f"images[{container}]", image, images.get(container))
    if want.replicas is not None:
        check("replicas", want.replicas, obj.get("spec", {}).get("replicas"))
    if want.env is not None:
        chosen = next((c for c in containers if c.get("name") == want.container), None)
        if chosen is None and containers:
            chosen = containers[0]
        env = {str(e.get("name")): _env_value(e) for e in (chosen or {}).get("env") or []}
        for var, value in want.env.items():
            check(f"env[{var}]", value, env.get(var))
    if want.restarted is not None:
        stamp = (template.get("metadata", {}).get("annotations") or {}).get(RESTARTED_AT)
        if want.restarted != (stamp is not None):
            got = Raw(f"true (restartedAt {stamp})") if stamp else Raw("false (no restartedAt annotation)")
            check("restarted", Raw(str(want.restarted).lower()), got)
    if want.paused is not None:
        check("paused", want.paused, bool(obj.get("spec", {}).get("paused")))
    return diffs


def _env_value(entry: Mapping[str, Any]) -> Any:
    if "valueFrom" in entry:
        return {"valueFrom": entry["valueFrom"]}
    return entry.get("value", "")


class Raw(str):
    """A value shown as is in a diff, without the quotes a string gets."""

    __slots__ = ()


def _show(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "unset"
    if isinstance(value, str):
        return repr(value)
    return str(value)
