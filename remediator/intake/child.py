"""The intake process: the two webhook routes, their journal writes, nothing else.

Started by the main process (supervisor.py) with its settings in the environment (never a secret on
the command line: the settings hold only references to them) and one end of the channel. It answers
exactly as the main process would (the same handlers, limits and metrics), wakes the main process
after each commit, sheds by the backlog the main process reports, and stops on SIGTERM, SIGINT or
the channel's end: no new connections, in-flight requests answered, queued writes committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from remediator.api.proxy import Proxy
from remediator.api.state import WebhookState
from remediator.api.webhook_app import add_webhook_routes, new_app, runner_for
from remediator.clock import Clock
from remediator.config import Settings, parse_listen
from remediator.intake.channel import Channel, Handlers
from remediator.intake.front import FrontEnd, add_front_routes
from remediator.intake.journal import Wakes, open_intake_journal
from remediator.logs import get_logger
from remediator.metrics import IntakeMetrics

log = get_logger("remediator.intake")

METRICS = web.AppKey("remediator_intake_metrics", IntakeMetrics)


async def metrics_handler(request: web.Request) -> web.Response:
    """This process's families (webhook requests, alerts received: `IntakeMetrics`); the main process
    exposes the rest, the backlog included."""
    body = await asyncio.to_thread(generate_latest, request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_intake_app(state: WebhookState, *, proxy: Proxy | None = None) -> web.Application:
    """The webhooks, and GET /metrics for their counters. With `proxy` (the front on http.listen),
    everything else is passed to the main process and /metrics holds both processes' families."""
    app = new_app(state.settings.http)
    add_webhook_routes(app, state)
    app[METRICS] = state.metrics
    if proxy is None:
        app.router.add_get("/metrics", metrics_handler)
    else:
        add_front_routes(app, proxy=proxy, registry=state.metrics.registry)
    return app


def _proxy(settings: Settings, front: FrontEnd) -> Proxy:
    # A little longer than the main process's own handler timeout: its 503 comes first, and the
    # proxy's 504 only when it is stuck beyond answering that.
    return Proxy(
        socket_path=front.upstream,
        max_body_bytes=settings.http.max_body_bytes,
        timeout_s=settings.http.handler_timeout + 5.0,
    )


async def serve_intake(
    settings: Settings, *, channel: Channel, clock: Clock, front: FrontEnd | None = None
) -> None:
    """Serve until told to stop (a signal, or the main process gone). `front`: the front on
    http.listen (a listening socket from the main process, and its Unix socket to forward to)."""
    token = settings.auth.webhook_token.resolve() if settings.auth.webhook_token else None
    signing = tuple(v for ref in settings.pagerduty.webhook_secrets if (v := ref.resolve()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def main_gone() -> None:
        log.warning("the main process is gone: stopping")
        stop.set()

    async with open_intake_journal(settings, clock=clock) as journal, contextlib.AsyncExitStack() as stack:
        handlers = Handlers(closed=main_gone)
        if isinstance(journal, Wakes):
            wakes = journal
            wakes.before_commit(lambda n: channel.committed(0, waiting=n))
            wakes.on_commit(lambda highest: channel.committed(highest, waiting=wakes.queued()))
            handlers.backlog = lambda backlog, as_of: wakes.backlog_told(backlog, as_of=as_of)
        channel.start(handlers)
        state = WebhookState(
            settings=settings,
            journal=journal,
            metrics=IntakeMetrics(),
            clock=clock,
            webhook_token=token,
            pagerduty_secrets=signing,
        )
        proxy = await stack.enter_async_context(_proxy(settings, front)) if front is not None else None
        runner = runner_for(build_intake_app(state, proxy=proxy), settings.http)
        await runner.setup()
        try:
            if front is None:
                host, port = parse_listen(settings.intake.listen or settings.http.listen)
                await web.TCPSite(runner, host, port).start()
            else:
                await web.SockSite(runner, front.listener).start()
                host, port = front.listener.getsockname()[:2]
            bound = runner.addresses[0][1] if runner.addresses else port
            log.info("listening", address=f"{host}:{bound}", front=front is not None)
            channel.listening(bound)
            await stop.wait()
            log.info("stopping")
        finally:
            # Stops listening, then waits for the requests in flight: their writes commit and answer.
            await runner.cleanup()
            channel.close()
