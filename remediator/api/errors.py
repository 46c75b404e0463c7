"""Errors as JSON `{"error": ..., "detail": ...}` with the right 4xx, never a traceback.

aiohttp raises its own HTTP exceptions (413 for a body over the limit, 404, 405):
the middleware renders those the same way, and turns a handler timeout into 503
(Alertmanager and PagerDuty retry 5xx; a 504 would be retried too, but 503 says
"come back", which is what we mean). A body that cannot be read as sent (a
`Content-Encoding: gzip` body that is not gzip, a truncated chunk) is the client's
error: 400 with aiohttp's one-line reason. Anything else is a bug: a 500 that says
nothing, logged once with its traceback (no frame locals, see logs.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from remediator.api.deadlines import Deadlines
from remediator.logs import get_logger

log = get_logger("remediator.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PROXIED = "proxied"
"""The name of the front's catch-all route (api/proxy.py). It runs without the handler timeout: the
main process applies its own to producing the answer, the proxy answers 504 when it hears nothing,
and relaying a long answer to a slow client must not be cut as if the handler were stuck."""


def one_line(text: str, limit: int = 300) -> str:
    """A reason as one line of bounded length (input echoed into it may be long or multi-line)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_response(
    status: int, error: str, detail: Any = None, *, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers)


def not_json(request: web.Request) -> web.Response | None:
    """A 415 unless the body is declared JSON (`application/json`, as Alertmanager and PagerDuty send
    it; a charset parameter is fine). None: go on."""
    if (
        request.headers.get("Content-Type") == "application/json"
        or request.content_type == "application/json"
    ):
        return None  # the first test is what senders send: the header's parse is skipped
    sent = one_line(request.headers.get("Content-Type", ""), 80) or "none"
    return error_response(415, f"Content-Type must be application/json, not {sent!r}")


def make_error_middleware(*, timeout_s: float, max_body: int | None = None) -> Any:
    """The middleware every route runs under (`answer_safely`); the front's proxy without the timeout.
    `max_body`: the application's client_max_size, named in a 413 (read from the application if None)."""

    deadlines = Deadlines(timeout_s)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        timed = None if request.match_info.route.name == PROXIED else deadlines
        return await answer_safely(request, handler, deadlines=timed, max_body=max_body)

    return errors


async def answer_safely(
    request: web.Request, handler: Handler, *, deadlines: Deadlines | None, max_body: int | None
) -> web.StreamResponse:
    """`handler`'s answer, or the error it ends in as a JSON answer (see the module's docstring);
    `deadlines` None: no handler timeout. Also the webhooks' direct path (webhook_app.py) runs it."""
    try:
        if deadlines is None:
            return await handler(request)
        return await deadlines.run(handler(request))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        reason = e.text if e.text and not e.text.startswith(f"{e.status}:") else e.reason
        if e.status == 413:
            limit = max_body if max_body is not None else request.app._client_max_size
            reason = f"request body too large (limit {limit} bytes)"
        # A 405 names the methods the resource allows (RFC 9110 15.5.6); aiohttp puts them in Allow.
        allow = {"Allow": e.headers["Allow"]} if e.status == 405 and "Allow" in e.headers else None
        response = error_response(e.status, reason, headers=allow)
        if e.status in (408, 413):
            response.force_close()  # the unread rest of the body must not be parsed as a request
        return response
    except TimeoutError:
        timeout_s = deadlines.timeout_s if deadlines is not None else None
        log.warning("request timed out", path=request.path, timeout_s=timeout_s)
        return error_response(503, "timed out; retry later", headers={"Retry-After": "5"})
    except (HttpProcessingError, web.RequestPayloadError) as e:
        message = e.message if isinstance(e, HttpProcessingError) else str(e)
        reason = one_line(str(message or type(e).__name__).removeprefix("400, message:"), 200)
        log.info("request body unreadable", path=request.path, reason=reason)
        response = error_response(400, f"cannot read the request body: {reason}")
        response.force_close()  # the rest of the body cannot be framed: this connection is done
        return response
    except Exception:
        log.exception("request failed", method=request.method, path=request.path)
        return error_response(500, "internal error; see the daemon's log")
