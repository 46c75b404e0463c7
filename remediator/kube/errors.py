"""A failed Kubernetes API call, mapped to what the caller should do about it.

The API conventions' retry classes: 409, 429 and 5xx are `TransientActionError` (retry, after
re-reading); other 4xx are `PermanentActionError` carrying the server's own message, worded for
on-call ("forbidden: cannot patch deployments.apps 'cart' in 'shop': check RBAC").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from remediator.errors import PermanentActionError, TransientActionError, TryLaterError


@dataclass(frozen=True, slots=True)
class Op:
    """One API call, described for error messages: `patch deployments.apps 'cart' in 'shop'`."""

    verb: str
    resource: str
    namespace: str | None
    """None for cluster-scoped resources and non-resource paths."""
    name: str | None = None

    def __str__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        where = f" in {self.namespace!r}" if self.namespace else ""
        return f"{self.verb} {self.resource}{name}{where}"


def status_error(
    op: Op, status: int, headers: Mapping[str, str] | None, body: Any, *, now: datetime
) -> TransientActionError | PermanentActionError | TryLaterError:
    """The API conventions' retry classes: 409/429/5xx retry, other 4xx fail with the server's reason.

    An eviction refused by a PodDisruptionBudget (429 with cause `DisruptionBudget`) is not throttling:
    retrying at once is refused the same way until pods become ready, so it is `TryLaterError`.
    """
    message = server_message(body)
    if status == 429 and (cause := disruption_budget_cause(body)) is not None:
        return TryLaterError(f"{op}: refused by a PodDisruptionBudget: {cause or message}")
    if status == 429:
        retry_after = retry_after_s(headers, now=now)
        hint = f", Retry-After {retry_after:g}s" if retry_after is not None else ""
        return TransientActionError(
            f"{op}: throttled by the API server (429{hint})", retry_after_s=retry_after
        )
    if status >= 500:
        return TransientActionError(f"{op}: API server error {status}: {message}")
    if status == 409:
        return TransientActionError(f"{op}: conflict: re-read and retry ({message})")
    if status == 422 and "resourceVersion" in message and "test" in message:
        # The JSON Patch "test" op of rollout_undo failed: the object changed since we read it.
        return TransientActionError(f"{op}: conflict: changed since it was read: re-read and retry")
    if status == 404:
        if op.name:
            where = f" in {op.namespace!r}" if op.namespace else ""
            return PermanentActionError(f"{op.resource} {op.name!r} not found{where}")
        return PermanentActionError(f"{op}: not found ({message})")
    if status == 403:
        return PermanentActionError(f"forbidden: cannot {op}: check RBAC ({message})")
    if status == 401:
        return PermanentActionError(f"unauthorized: the API server rejected the credentials ({message})")
    return PermanentActionError(f"{op}: rejected ({status}): {message}")


def retry_after_s(headers: Mapping[str, str] | None, *, now: datetime) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    raw = (headers or {}).get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(raw) - now).total_seconds())
    except (TypeError, ValueError):
        return None


def server_message(body: Any) -> str:
    """The `message` of a Kubernetes Status body, else the body itself (truncated)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return "no details"
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return str(body)[:300]
    if isinstance(parsed, Mapping) and parsed.get("message"):
        return str(parsed["message"])[:300]
    return str(body)[:300]


def disruption_budget_cause(body: Any) -> str | None:
    """The message of a Status body's `DisruptionBudget` cause ("" when it has none), else None."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return None
    details = parsed.get("details") if isinstance(parsed, Mapping) else None
    causes = details.get("causes") if isinstance(details, Mapping) else None
    for cause in causes if isinstance(causes, list) else []:
        if isinstance(cause, Mapping) and cause.get("reason") == "DisruptionBudget":
            return str(cause.get("message") or "")
    return None
