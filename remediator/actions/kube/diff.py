"""Diffs between two objects' JSON, as the audit trail and dry-runs show them.

Diff paths are dotted, with brackets for two things a dot cannot express: items of a list merged by `name`
(`spec.template.spec.containers[app].env[RATE_LIMIT_MODE]`) and keys of user maps such as annotations
and labels, whose keys contain dots and slashes (`metadata.annotations[kubectl.kubernetes.io/restartedAt]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.model import Change

_MAP_FIELDS = frozenset({"annotations", "labels", "nodeSelector", "matchLabels"})
"""Fields whose keys are user-chosen (and may contain '.' or '/'): rendered as `field[key]`."""

_ABSENT: Any = object()


def diff(before: Any, after: Any, path: str) -> list[Change]:
    """The leaf-level changes that turn `before` into `after`, under `path`.

    Dicts recurse; lists whose items all carry a unique `name` (containers, env, volumes) are matched by
    name, like a strategic merge patch; any other list is compared whole. A missing field is `None`.
    """
    out: list[Change] = []
    _diff_into(out, before, after, path)
    return out


def _diff_into(out: list[Change], before: Any, after: Any, path: str) -> None:
    if before is _ABSENT:
        before = None
    if after is _ABSENT:
        after = None
    if before == after:
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        brackets = _last_field(path) in _MAP_FIELDS
        for key in _ordered_keys(before, after):
            child = f"{path}[{key}]" if brackets else f"{path}.{key}"
            _diff_into(out, before.get(key, _ABSENT), after.get(key, _ABSENT), child)
        return
    if _named_list(before) and _named_list(after):
        old = {item["name"]: item for item in before}
        new = {item["name"]: item for item in after}
        for name in _ordered_keys(old, new):
            _diff_into(out, old.get(name, _ABSENT), new.get(name, _ABSENT), f"{path}[{name}]")
        return
    out.append(Change(path=path, before=before, after=after))


def _ordered_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Keys of `a` in their order, then the keys only `b` has: diffs read in the object's own order."""
    return [*a, *(k for k in b if k not in a)]


def _named_list(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    if not all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in value):
        return False
    return len({item["name"] for item in value}) == len(value)


def _last_field(path: str) -> str:
    return path.rsplit(".", 1)[-1]
