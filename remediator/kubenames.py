"""Kubernetes names and label selectors: what the API server accepts, checked before it is asked.

Shared by the rule loader (rules/: literal names and selectors in a rule, rendered target names)
and the actions (actions/kube/: a workload's selector turned into the `labelSelector` query). Pure
functions, no client: a rule that can never produce a valid name fails at `remediator check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from remediator.errors import PermanentActionError

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SELECTOR_EQ = re.compile(r"\s*([^\s=!,()]+)\s*(==|=|!=)\s*([^\s=!,()]*)\s*")
_SELECTOR_SET = re.compile(r"\s*([^\s=!,()]+)\s+(in|notin)\s*\(([^()]*)\)\s*")
_SELECTOR_EXISTS = re.compile(r"\s*(!?)\s*([^\s=!,()]+)\s*")


def is_dns1123_label(s: str) -> bool:
    """A namespace or container name: at most 63 of `[a-z0-9-]`, alphanumeric at both ends."""
    return len(s) <= 63 and _DNS1123_LABEL.fullmatch(s) is not None


def is_dns1123_subdomain(s: str) -> bool:
    """An object name (Deployment, Pod...): at most 253 characters, dot-separated DNS labels."""
    return len(s) <= 253 and _DNS1123_SUBDOMAIN.fullmatch(s) is not None


def is_env_var_name(s: str) -> bool:
    """A C identifier. Kubernetes accepts more, but shells and most runtimes only read these."""
    return _ENV_VAR_NAME.fullmatch(s) is not None


def is_label_key(s: str) -> bool:
    """`name` or `prefix/name`, as Kubernetes label keys."""
    prefix, slash, name = s.rpartition("/")
    if slash and not (prefix and is_dns1123_subdomain(prefix)):
        return False
    return len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def is_label_value(s: str) -> bool:
    return len(s) <= 63 and _LABEL_VALUE.fullmatch(s) is not None


def label_selector_problem(s: str) -> str | None:
    """Why `s` is not a usable Kubernetes label selector, or None when it is.

    Beyond syntax, a selector must pin at least one label (`key=value` or `key in (...)`):
    a selector made only of `!=`/`notin`/existence tests can match most of a namespace, and
    a remediation that deletes pods must not be that broad.
    """
    if not s.strip():
        return "selector is empty"
    positive = False
    for part in _split_selector(s):
        if m := _SELECTOR_EQ.fullmatch(part):
            key, op, value = m.groups()
            if not is_label_key(key):
                return f"{key!r} is not a valid label key"
            if not is_label_value(value):
                return f"{value!r} is not a valid label value"
            positive = positive or (op != "!=" and value != "")
        elif m := _SELECTOR_SET.fullmatch(part):
            key, op, values = m.groups()
            if not is_label_key(key):
                return f"{key!r} is not a valid label key"
            items = [v.strip() for v in values.split(",")]
            bad = [v for v in items if not is_label_value(v)]
            if bad:
                return f"{bad[0]!r} is not a valid label value"
            positive = positive or (op == "in" and all(items))
        elif m := _SELECTOR_EXISTS.fullmatch(part):
            if not is_label_key(m.group(2)):
                return f"{m.group(2)!r} is not a valid label key"
        else:
            return f"{part.strip()!r} is not a label selector requirement"
    if not positive:
        return "selector must pin at least one label with key=value or key in (...)"
    return None


def _split_selector(s: str) -> list[str]:
    """Split on commas that are not inside `in (...)` lists."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as the `labelSelector` query string (metav1.LabelSelectorAsSelector)."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), sorted(expr.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise PermanentActionError(f"label selector operator {operator!r} is not supported")
    return ",".join(parts)
