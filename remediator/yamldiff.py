"""An action's changes shown as `kubectl diff` shows them: a unified diff of the object's YAML.

Actions record their changes as leaf paths with a before and an after value (`Change`, see
actions/kube/diff.py for the path syntax: dots, `containers[app]` for items of a list merged by
name, `annotations[kubectl.kubernetes.io/restartedAt]` for keys of user maps). People read them
here rebuilt into the part of the object that changes:

    --- live/apps.v1.Deployment.shop.checkout
    +++ planned/apps.v1.Deployment.shop.checkout
     spec:
       template:
         spec:
           containers:
           - name: api
             env:
             - name: RATE_LIMIT_MODE
    -          value: direct
    +          value: queue

A `None` side is a field that is absent (or, in a plan made without a cluster, unknown). Pods
are objects of their own: `pod/NAME deleted`. Used by `remediator ctl` and anything else that
shows a change to a person; never Python reprs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import yaml

_MAP_FIELDS = frozenset({"annotations", "labels", "nodeSelector", "matchLabels"})
_SEGMENT = re.compile(r"\.?([^.\[\]]+)|\[([^\]]*)\]")
_API_GROUPS = {"Deployment": "apps.v1", "StatefulSet": "apps.v1", "DaemonSet": "apps.v1"}


def object_name(target_key: str) -> str:
    """`shop/Deployment/checkout` -> `apps.v1.Deployment.shop.checkout`, as kubectl diff names files."""
    parts = target_key.split("/")
    if len(parts) != 3:
        return target_key
    namespace, kind, name = parts
    return f"{_API_GROUPS.get(kind, 'v1')}.{kind}.{namespace}.{name}"


def render(
    changes: Iterable[tuple[str, Any, Any]], *, target_key: str, after_label: str = "planned"
) -> list[str]:
    """The diff lines for `(path, before, after)` changes to one object (`after_label`: planned or
    applied). Empty when there is nothing to show."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    pods: list[str] = []
    for path, old, new in changes:
        segments = _segments(path)
        if segments and segments[0] == ("field", "pods") and len(segments) == 2:
            was = f" (was {old})" if old not in (None, "") else ""
            pods.append(f"pod/{segments[1][1]} {new}{was}")
            continue
        # Both sides get the path's parents, so they read as context and only the leaf differs.
        _put(before, segments, old)
        _put(after, segments, new)
    lines: list[str] = []
    if before != after:
        where = object_name(target_key)
        lines.extend(
            difflib.unified_diff(
                _dump(before),
                _dump(after),
                fromfile=f"live/{where}",
                tofile=f"{after_label}/{where}",
                lineterm="",
                n=10_000,  # the trees hold only what changes: show all of it, kubectl-style
            )
        )
        # difflib's hunk header (@@ -1,5 +1,5 @@) says nothing a person needs here
        lines = [line for line in lines if not line.startswith("@@")]
    return lines + pods


def _segments(path: str) -> list[tuple[str, str]]:
    """`containers[app].env[X]` -> [(field, containers), (key, app), (field, env), (key, X)]."""
    out: list[tuple[str, str]] = []
    for m in _SEGMENT.finditer(path):
        if m.group(1) is not None:
            out.append(("field", m.group(1)))
        else:
            out.append(("key", m.group(2)))
    return out


def _put(tree: dict[str, Any], segments: list[tuple[str, str]], value: Any) -> None:
    node: Any = tree
    for i, (kind, name) in enumerate(segments):
        last = i == len(segments) - 1
        if kind == "field":
            nxt = segments[i + 1] if not last else None
            if last:
                if value is not None:
                    node[name] = value
            elif nxt is not None and nxt[0] == "key" and name not in _MAP_FIELDS:
                node = node.setdefault(name, [])  # a list merged by name
            else:
                node = node.setdefault(name, {})
            continue
        if isinstance(node, list):  # item `name` of a named list
            item = next((x for x in node if x.get("name") == name), None)
            if item is None:
                item = {"name": name}
                node.append(item)
            if last and value is not None:
                if isinstance(value, dict):
                    item.update(value)
                else:
                    item["value"] = value
            node = item
        elif last:
            if value is not None:
                node[name] = value
        else:
            node = node.setdefault(name, {})


def _dump(tree: dict[str, Any]) -> list[str]:
    """Block YAML, with a parent whose only changing child is absent shown as a bare `key:`."""
    out: list[str] = []
    _emit(tree, 0, out)
    return out


def _emit(node: dict[str, Any], indent: int, out: list[str], *, first_prefix: str | None = None) -> None:
    pad = " " * indent
    for i, (key, value) in enumerate(node.items()):
        lead = first_prefix if (first_prefix is not None and i == 0) else pad
        if isinstance(value, dict):
            out.append(f"{lead}{key}:")
            _emit(value, indent + 2, out)
        elif isinstance(value, list):
            out.append(f"{lead}{key}:")
            for item in value:
                if isinstance(item, dict) and item:
                    _emit(item, indent + 2, out, first_prefix=f"{pad}- ")
                else:
                    out.append(f"{pad}- {_scalar(item)}")
        else:
            out.append(f"{lead}{key}: {_scalar(value)}")


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()
