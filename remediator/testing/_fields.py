"""Which field selectors each resource supports, and the 400 the API server words for the rest.

Every kind supports `metadata.name` and `metadata.namespace`. Kinds with a field-label
conversion function support a few more (pods: `status.phase`, `spec.nodeName`, ...) and
reject others with "field label not supported: X"; kinds without one (Deployments,
StatefulSets, Leases, ...) reject with `"X" is not a known field selector: only
"metadata.name", "metadata.namespace"`. A silently empty list instead would let a typo in
a selector read as "no pods match" (source: `pkg/apis/*/v1/conversion.go`,
`runtime.DefaultMetaV1FieldSelectorConversion`).
"""

from __future__ import annotations

from collections.abc import Sequence

from remediator.testing._selectors import SelectorError

_POD = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    }
)
_OBJECT_REF = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
_CORE_EVENT = frozenset(
    {"metadata.name", "metadata.namespace", "reason", "reportingComponent", "source", "type"}
    | {f"involvedObject.{f}" for f in _OBJECT_REF}
)
_EVENTS_V1 = frozenset(
    {"metadata.name", "metadata.namespace", "reason", "reportingController", "type"}
    | {f"regarding.{f}" for f in _OBJECT_REF}
)
_CONVERTED: dict[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): _POD,
    ("", "Event"): _CORE_EVENT,
    ("events.k8s.io", "Event"): _EVENTS_V1,
    ("", "Namespace"): frozenset({"metadata.name", "status.phase"}),
    ("apps", "ReplicaSet"): frozenset({"metadata.name", "metadata.namespace", "status.replicas"}),
    ("batch", "Job"): frozenset({"metadata.name", "metadata.namespace", "status.successful"}),
}
"""Kinds with a field-label conversion function, and what it accepts."""

_ALIASES = {"spec.host": "spec.nodeName"}
"""Old names the conversion functions rewrite (v1 clients once sent `spec.host`)."""
_STORED_PATH = {"status.successful": "status.succeeded"}
"""Selector fields backed by a differently named object field."""


def convert(group: str, kind: str, fields: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Check `fields` against the kind's supported set; return them as object paths to match on."""
    supported = _CONVERTED.get((group, kind))
    out: list[tuple[str, str, str]] = []
    for path, op, value in fields:
        path = _ALIASES.get(path, path) if supported is _POD else path
        if supported is None:
            if path not in ("metadata.name", "metadata.namespace"):
                raise SelectorError(
                    f'"{path}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                )
        elif path not in supported:
            raise SelectorError(f"field label not supported: {path}")
        out.append((_STORED_PATH.get(path, path), op, value))
    return out
