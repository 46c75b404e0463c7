"""The aiohttp application: webhook routes, health, metrics and the override API.

Handlers are thin: authenticate, validate, hand over, answer. They reach the daemon only through
`ApiState`, filled in by `app`. `models` describes every request and answer of /api/v1 and imports
nothing of the daemon, so `remediator ctl` loads it alone: the server's names below are imported
on first use, not with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remediator.api.server import build_web_app
    from remediator.api.state import STATE, ApiState

__all__ = ["STATE", "ApiState", "build_web_app"]


def __getattr__(name: str) -> Any:
    if name == "build_web_app":
        from remediator.api.server import build_web_app

        return build_web_app
    if name in ("STATE", "ApiState"):
        from remediator.api import state

        return getattr(state, name)
    raise AttributeError(f"module 'remediator.api' has no attribute {name!r}")
