"""Status errors of the fake API server, shaped like the real kube-apiserver's.

Product code parses `ApiException.body` (reason, code, details) to decide between
retry, escalate and give up, so every failure the fake returns is a `metav1.Status`
with the same reason, message wording and details as apimachinery's `errors.New*`
constructors. The request handlers raise `ApiError`; the server turns it into JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

REASONS: Mapping[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
"""HTTP code to `StatusReason`, as `errors.NewGenericServerResponse` maps them."""


class ApiError(Exception):
    """A failed request; `status()` is the body the real API server would send."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = REASONS.get(code, "Unknown") if reason is None else reason
        """An empty reason is left out of the body, as a Status built without one is."""
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    # Go's StatusDetails omits empty fields, so core resources carry no "group".
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    details.update(extra)
    return details


def qualified(plural: str, group: str) -> str:
    """`deployments.apps`, or plain `pods` for the core group, as messages spell it."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404, f'{qualified(plural, group)} "{name}" not found', details=_details(name, group, plural)
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        details=_details(name, group, plural),
    )


class Cause:
    """One `field.Error`: rendered as `<field>: <detail>` in messages and as a StatusCause."""

    __slots__ = ("detail", "field", "reason")

    def __init__(self, field: str, reason: str, detail: str) -> None:
        self.field = field
        self.reason = reason
        self.detail = detail

    @classmethod
    def invalid(cls, field: str, value: Any, detail: str) -> Cause:
        return cls(field, "FieldValueInvalid", f"Invalid value: {go_repr(value)}: {detail}")

    @classmethod
    def required(cls, field: str, detail: str = "") -> Cause:
        return cls(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))

    @classmethod
    def duplicate(cls, field: str, value: Any) -> Cause:
        return cls(field, "FieldValueDuplicate", f"Duplicate value: {go_repr(value)}")

    @classmethod
    def forbidden(cls, field: str, detail: str) -> Cause:
        return cls(field, "FieldValueForbidden", f"Forbidden: {detail}")

    def render(self) -> str:
        return f"{self.field}: {self.detail}"


def go_repr(value: Any) -> str:
    """Render a bad value the way `field.Invalid` does: strings quoted, numbers bare."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def invalid(kind: str, group: str, name: str, causes: Sequence[Cause]) -> ApiError:
    """422 Invalid; the message lists causes like `errors.NewInvalid` (bracketed when several)."""
    rendered = [c.render() for c in causes]
    listed = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return ApiError(
        422,
        f'{qualified(kind, group)} "{name}" is invalid: {listed}',
        details=_details(
            name,
            group,
            kind,
            causes=[{"reason": c.reason, "message": c.detail, "field": c.field} for c in causes],
        ),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unprocessable(message: str) -> ApiError:
    """422 without an object, as the patch handlers report a patch that cannot be applied."""
    return ApiError(422, message)


def method_not_allowed(method: str, what: str) -> ApiError:
    return ApiError(405, f"the server does not allow this method on the requested resource ({method} {what})")


def too_many_requests(retry_after: float | None) -> ApiError:
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if retry_after is not None:
        details["retryAfterSeconds"] = math.ceil(retry_after)
        headers["Retry-After"] = f"{retry_after:g}"
    return ApiError(429, "Too many requests, please try again later.", details=details, headers=headers)


def injected(code: int, *, retry_after: float | None = None) -> ApiError:
    """The Status an injected fault answers with, worded like the server's own for that code."""
    if code == 429:
        return too_many_requests(retry_after)
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    if code == 500:
        return ApiError(
            500,
            "Internal error occurred: injected fault",
            details={"causes": [{"message": "injected fault"}]},
            headers=headers,
        )
    if code == 504:
        return ApiError(
            504,
            "Timeout: request did not complete within the allotted timeout",
            details={},
            headers=headers,
        )
    reason = REASONS.get(code, "Unknown")
    return ApiError(code, f"injected fault: {reason}", details={}, headers=headers)
