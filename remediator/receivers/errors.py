"""The one error a receiver raises: the sender gets a 4xx with this one-line reason."""

from __future__ import annotations

from pydantic import ValidationError

from remediator.errors import RemediatorError


class PayloadError(RemediatorError):
    def __init__(self, reason: str, *, status: int = 400) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


def describe_validation_error(e: ValidationError, *, what: str) -> str:
    """The first problem, as one line a human can act on: `alerts.0.startsAt: Input should be ...`."""
    err = e.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or what
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"invalid {what}: {loc}: {err['msg']}{more}"
