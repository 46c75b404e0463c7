"""List semantics: label/field selection and `limit`/`continue` paging.

Blast-radius checks and kubectl's rollback both list with selectors and page
through results, so the fake pages like the real server: items in key order,
an opaque `continue` token, and `remainingItemCount` while more remain.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from remediator.testing._errors import bad_request
from remediator.testing._fields import convert
from remediator.testing._selectors import (
    Requirement,
    SelectorError,
    matches_fields,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)
from remediator.testing._store import Obj


def _key(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


Selector = tuple[list[Requirement], list[tuple[str, str, str]]]


def parse_selectors(query: Mapping[str, str], *, group: str, kind: str) -> Selector:
    """The label and field selectors of a list or watch, or the 400 the real server answers."""
    try:
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = convert(group, kind, parse_field_selector(query.get("fieldSelector", "")))
    except SelectorError as exc:
        raise bad_request(str(exc)) from None
    return labels, fields


def matches(obj: Obj, selector: Selector, *, view: Callable[[Obj], Obj]) -> bool:
    labels, fields = selector
    return matches_labels(obj["metadata"].get("labels") or {}, labels) and (
        not fields or matches_fields(view(obj), fields)
    )


def select(
    items: list[Obj], query: Mapping[str, str], *, group: str, kind: str, view: Callable[[Obj], Obj]
) -> list[Obj]:
    """Keep the items matching `labelSelector` and `fieldSelector` (the latter on the served `view`)."""
    selector = parse_selectors(query, group=group, kind=kind)
    return [o for o in items if matches(o, selector, view=view)]


def page(items: list[Obj], query: Mapping[str, str], *, revision: int) -> tuple[list[Obj], dict[str, Any]]:
    """One page of `items` (sorted by key) and the list metadata to send with it."""
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise bad_request(f"invalid limit: {query.get('limit')!r}") from None
    token = query.get("continue")
    if token:
        start = _decode_continue(token)
        items = [o for o in items if _key(o) > start]
    chosen = items[:limit] if limit > 0 else items
    meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if len(chosen) < len(items):
        meta["continue"] = _encode_continue(_key(chosen[-1]), revision)
        meta["remainingItemCount"] = len(items) - len(chosen)
    return chosen, meta


def _encode_continue(start: tuple[str, str], revision: int) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": revision, "start": list(start)}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        return str(start[0]), str(start[1])
    except (binascii.Error, ValueError, KeyError, IndexError, TypeError):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion") from None
