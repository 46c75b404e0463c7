"""The aiohttp application: webhook routes, health, metrics (and the override API).

Handlers are thin: authenticate, validate, hand over, answer. They reach the
daemon only through `ApiState`, filled in by `app`.
"""

from remediator.api.server import build_web_app
from remediator.api.state import STATE, ApiState

__all__ = ["STATE", "ApiState", "build_web_app"]
