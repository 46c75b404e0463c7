"""Reading a request body, bounded in size (aiohttp's client_max_size: 413) and in time (408).

Every handler that takes a body reads it here, so a client that sends its body one byte a minute
holds a handler for `http.body_timeout` at most, and gets an answer that says why.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from remediator.api.state import BODY_TIMEOUT


async def read_body(request: web.Request, *, timeout_s: float | None = None) -> bytes:
    """The whole body; raises HTTPRequestTimeout (408) when it does not arrive in time.
    `timeout_s`: http.body_timeout when the caller has it at hand (else the application's)."""
    if request.content.is_eof():
        # Already all here (a webhook's body usually comes in the packets of its headers): reading
        # cannot wait, so no timer is armed (one per request is a measurable part of a webhook's cost).
        return await request.read()
    if timeout_s is None:
        timeout_s = request.app[BODY_TIMEOUT]
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"the request body did not arrive within {timeout_s:g}s", headers={"Connection": "close"}
        ) from None
