"""The front's GET /metrics: one scrape for two processes.

Prometheus scrapes one address (`http.listen`). Behind it the main process exposes its families and
the intake process (the front) its own webhook families (`IntakeMetrics`); the main declares those with
`Metrics(webhooks=False)`, so no family is exposed by both (a repeated family fails the whole scrape).
The answer is the main's exposition followed by the front's: a text exposition is a sequence of
families, so two with no name in common joined end to end are one valid exposition.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from remediator.api.errors import error_response
from remediator.api.proxy import Proxy, UpstreamError
from remediator.logs import get_logger

log = get_logger("remediator.api.proxy")


def joined_metrics(
    *, proxy: Proxy, registry: CollectorRegistry
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A GET /metrics handler: the main's exposition, fetched through `proxy`, plus `registry`'s.

    When the main process does not answer, the scrape fails (502/504) rather than answering the
    front's families alone: a scrape that silently lacks the decisions would look like a quiet day."""

    async def metrics(request: web.Request) -> web.Response:
        try:
            status, main, content_type = await proxy.get("/metrics")
        except UpstreamError as e:
            log.warning("metrics: the main process did not answer", error=str(e))
            return error_response(e.status, str(e))
        if status != 200:
            return error_response(
                502, f"the daemon's main process answered GET /metrics with {status}: check the daemon's log"
            )
        own = generate_latest(registry)  # a handful of families: cheap enough for the event loop
        if main and not main.endswith(b"\n"):
            main += b"\n"
        return web.Response(body=main + own, headers={"Content-Type": content_type or CONTENT_TYPE_LATEST})

    return metrics
