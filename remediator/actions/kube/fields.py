"""Reading the API server's JSON and a rule's action parameters, without trusting either's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.errors import PermanentActionError


def get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def uid_of(obj: Mapping[str, Any]) -> str | None:
    uid = get(obj, "metadata", "uid")
    return str(uid) if uid else None


def opt_int(params: Mapping[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a whole number") from None
    if number != int(number):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a whole number")
    return int(number)


def opt_float(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise PermanentActionError(f"parameter {key!r}: {value!r} is not a number") from None
