"""The two Event APIs over one store, converted the way the apiserver converts them.

core/v1 and events.k8s.io/v1 Events are the same stored object with renamed fields
(`involvedObject`/`regarding`, `message`/`note`, ...). The fake stores the core
shape and converts at the HTTP edge, so an event posted through one API can be
read back through the other, as in a real cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_RENAMED = (
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
)
_SHARED = ("metadata", "eventTime", "series", "related", "action", "reason", "type", "reportingInstance")


def _convert(src: Mapping[str, Any], api_version: str, renames: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Event", "apiVersion": api_version}
    for key in _SHARED:
        if key in src:
            out[key] = copy.deepcopy(src[key])
    for old, new in renames:
        if src.get(old) is not None:
            out[new] = copy.deepcopy(src[old])
    return out


def to_events_v1(core: Mapping[str, Any]) -> dict[str, Any]:
    out = _convert(core, "events.k8s.io/v1", list(_RENAMED))
    # Go serialises the zero MicroTime as null; the Python client then rejects the
    # object (kubernetes-client/python#1826). Keep that, it is what clusters do.
    out.setdefault("eventTime", None)
    return out


def from_events_v1(event: Mapping[str, Any]) -> dict[str, Any]:
    return with_core_defaults(_convert(event, "v1", [(new, old) for old, new in _RENAMED]))


def with_core_defaults(core: dict[str, Any]) -> dict[str, Any]:
    """Fields a stored core Event always has, because Go emits them even when empty."""
    core.setdefault("involvedObject", {})
    core.setdefault("source", {})
    core.setdefault("reportingComponent", "")
    core.setdefault("reportingInstance", "")
    return core


def kubelet_event(
    pod: Mapping[str, Any], *, container: str, reason: str, message: str, at: str, name: str
) -> dict[str, Any]:
    """A Warning Event the kubelet records about a pod's container, as a real one stores it: core
    fields, `involvedObject` the container's reference (`fieldPath: spec.containers{name}`), source
    and reporting instance the pod's node, count 1 (the recorder's aggregation bumps it)."""
    meta = pod["metadata"]
    node = str(pod["spec"].get("nodeName") or "")
    return with_core_defaults(
        {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "involvedObject": {
                "kind": "Pod",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "v1",
                "resourceVersion": meta.get("resourceVersion", ""),
                "fieldPath": f"spec.containers{{{container}}}",
            },
            "reason": reason,
            "message": message,
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
            "type": "Warning",
            "eventTime": None,
            "reportingComponent": "kubelet",
            "reportingInstance": node,
        }
    )
