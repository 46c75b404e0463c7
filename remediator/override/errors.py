"""The override service's refusals, by what went wrong; `api/` maps each to its HTTP status.

The service knows nothing of HTTP: a refusal says what the caller did (asked wrongly, named
something that does not exist, asked at the wrong time, sent invalid rule files), and the
API answers 400, 404, 409 or 422 for it (api/errors.py).
"""

from __future__ import annotations

from typing import Any

from remediator.errors import RemediatorError


class OperationRefused(RemediatorError):
    """The operation cannot be done as asked; `detail` says more (a list of problems, a hint)."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.detail = detail


class BadRequest(OperationRefused):
    """The request is wrong: a missing or invalid field, a target the rule cannot render."""


class NotFound(OperationRefused):
    """No such rule, execution, approval, breaker or incident."""


class Conflict(OperationRefused):
    """The state forbids it: an approval already decided or expired, its rule or alert gone."""


class ReloadFailed(OperationRefused):
    """Some rule file is invalid: the previous rule set stays active. `detail` is every `path:line: msg`."""
