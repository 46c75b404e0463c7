"""The API resources the fake serves, and the discovery documents that list them.

One table drives URL routing, List kinds, error wording (`deployments.apps`) and
`/api`, `/apis` discovery, so adding a resource is one line. Events are served by
two groups over one store, in core/v1 shape, as the real server does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SERVER_VERSION = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.0+fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
"""What `/version` answers; the minor matches the kubernetes_asyncio 36 client."""

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update"]


@dataclass(frozen=True, slots=True)
class Resource:
    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    create_on_update: bool = False
    """`AllowCreateOnUpdate`: a PUT of a missing object creates it (201) instead of 404."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


POD = Resource("pods", "Pod", "", "v1", True, frozenset({"status", "eviction", "log"}), ("po",))
EVENT = Resource("events", "Event", "", "v1", True, short_names=("ev",), create_on_update=True)
NAMESPACE = Resource("namespaces", "Namespace", "", "v1", False, frozenset({"status"}), ("ns",))
DEPLOYMENT = Resource(
    "deployments", "Deployment", "apps", "v1", True, frozenset({"status", "scale"}), ("deploy",)
)
STATEFULSET = Resource(
    "statefulsets", "StatefulSet", "apps", "v1", True, frozenset({"status", "scale"}), ("sts",)
)
DAEMONSET = Resource("daemonsets", "DaemonSet", "apps", "v1", True, frozenset({"status"}), ("ds",))
REPLICASET = Resource(
    "replicasets", "ReplicaSet", "apps", "v1", True, frozenset({"status", "scale"}), ("rs",)
)
EVENTS_V1 = Resource(
    "events", "Event", "events.k8s.io", "v1", True, short_names=("ev",), create_on_update=True
)
LEASE = Resource("leases", "Lease", "coordination.k8s.io", "v1", True, create_on_update=True)
JOB = Resource("jobs", "Job", "batch", "v1", True, frozenset({"status"}))
PDB = Resource(
    "poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1", True, frozenset({"status"}), ("pdb",)
)

RESOURCES: tuple[Resource, ...] = (
    POD,
    EVENT,
    NAMESPACE,
    DEPLOYMENT,
    STATEFULSET,
    DAEMONSET,
    REPLICASET,
    EVENTS_V1,
    LEASE,
    JOB,
    PDB,
)

STORED: dict[str, Resource] = {r.kind: r for r in RESOURCES if r is not EVENTS_V1}
"""Kinds as the store keys them; an events.k8s.io Event is kept as a core Event."""

WORKLOAD_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})
"""Kinds whose pods come from `.spec.template` and whose rollouts the controllers step through."""
GENERATION_KINDS = WORKLOAD_KINDS | {"Job", "PodDisruptionBudget"}
"""Kinds whose metadata.generation tracks .spec changes."""


def find(group: str, version: str, plural: str) -> Resource | None:
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def stored_kind(kind: str) -> str:
    """Accept `Deployment`, `deployment` or `deployments`; raise ValueError naming the known kinds."""
    for r in STORED.values():
        if kind.lower() in (r.kind.lower(), r.plural):
            return r.kind
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(sorted(STORED))}")


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group:
            versions = groups.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
    return groups


def api_versions(host: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group_doc(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(name, versions) for name, versions in _groups().items()],
    }


def api_group(name: str) -> dict[str, Any] | None:
    versions = _groups().get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(name, versions)}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    entries: list[dict[str, Any]] = []
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.kind.lower(),
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": _VERBS,
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        entries.append(entry)
        for sub in sorted(r.subresources):
            if sub == "scale":
                entries.append(
                    {
                        "name": f"{r.plural}/scale",
                        "singularName": "",
                        "namespaced": True,
                        "group": "autoscaling",
                        "version": "v1",
                        "kind": "Scale",
                        "verbs": ["get", "patch", "update"],
                    }
                )
            elif sub == "log":
                entries.append(
                    {
                        "name": f"{r.plural}/log",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": ["get"],
                    }
                )
            elif sub == "eviction":
                entries.append(
                    {
                        "name": f"{r.plural}/eviction",
                        "singularName": "",
                        "namespaced": True,
                        "group": "policy",
                        "version": "v1",
                        "kind": "Eviction",
                        "verbs": ["create"],
                    }
                )
            else:
                entries.append(
                    {
                        "name": f"{r.plural}/{sub}",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
    if not entries:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}
