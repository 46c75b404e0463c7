"""The HTTP status of each refusal of the override service (a module of its own: the webhooks' error
rendering, which an intake process loads, does not load the override layer)."""

from __future__ import annotations

from remediator.override.errors import BadRequest, Conflict, NotFound, OperationRefused, ReloadFailed

_REFUSALS: tuple[tuple[type[OperationRefused], int], ...] = (
    (BadRequest, 400),
    (NotFound, 404),
    (Conflict, 409),
    (ReloadFailed, 422),
)


def refusal_status(e: OperationRefused) -> int:
    """The HTTP status of the override service's refusal: what the caller should change."""
    return next((status for kind, status in _REFUSALS if isinstance(e, kind)), 400)
