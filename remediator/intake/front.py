"""One port for the daemon (`intake.processes: 1`, `intake.listen` unset): the intake process is the
front on http.listen. It answers the webhooks itself and passes every other request (the override
API, the console, /healthz, /readyz) to the main process (api/proxy.py); GET /metrics is the main
process's exposition followed by the intake process's own families (api/front_metrics.py).

The main process binds http.listen itself and hands the listening socket to the intake process as an
inherited descriptor: a bind error is the main process's start-up error as before, port 0 is chosen
once, and while a dead intake process is started again the port stays bound, so connections wait in
the kernel's queue instead of being refused. The main process serves on a Unix socket in a directory
made afresh at each start with mode 0700 (rundir.py): only the daemon's user can reach it, and only
the two processes know its path (a run that was killed leaves it behind; the next start removes it).
That is why the main process trusts the X-Forwarded-For the front sets there (the console's login
throttling counts per client).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from remediator.api.errors import PROXIED
from remediator.api.front_metrics import joined_metrics
from remediator.api.proxy import Proxy
from remediator.errors import ConfigError
from remediator.intake.rundir import run_directory

LISTEN_FD_ENV = "REMEDIATOR_INTAKE_LISTEN_FD"
UPSTREAM_ENV = "REMEDIATOR_INTAKE_UPSTREAM"
SOCKET_NAME = "main.sock"
BACKLOG = 128
"""Connections the kernel queues while no intake process accepts them (aiohttp's default)."""
UNIX_PATH_MAX = 107


@dataclass(frozen=True, kw_only=True)
class Front:
    """The main process's side: the socket the intake process accepts on, the one it forwards to."""

    listener: socket.socket
    upstream: Path

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def env(self) -> dict[str, str]:
        """What the intake process is told (with `listener` in its pass_fds)."""
        return {LISTEN_FD_ENV: str(self.listener.fileno()), UPSTREAM_ENV: str(self.upstream)}


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (the first address the name resolves to). OSError if not."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def open_front(host: str, port: int) -> Iterator[Front]:
    """Bind http.listen and make the private directory of the main process's socket; undone at exit."""
    with run_directory() as directory:
        upstream = directory / SOCKET_NAME
        if len(os.fsencode(upstream)) > UNIX_PATH_MAX:
            raise ConfigError(
                f"the main process's socket path {upstream} is longer than a Unix socket allows "
                f"({UNIX_PATH_MAX} bytes): set TMPDIR to a shorter directory"
            )
        with bind_listener(host, port) as listener:
            yield Front(listener=listener, upstream=upstream)


@dataclass(frozen=True, kw_only=True)
class FrontEnd:
    """The intake process's side, from its environment."""

    listener: socket.socket
    upstream: Path


def front_from_env(env: Mapping[str, str]) -> FrontEnd | None:
    if LISTEN_FD_ENV not in env:
        return None
    listener = socket.socket(fileno=int(env[LISTEN_FD_ENV]))
    listener.setblocking(False)
    return FrontEnd(listener=listener, upstream=Path(env[UPSTREAM_ENV]))


def add_front_routes(app: web.Application, *, proxy: Proxy, registry: CollectorRegistry) -> None:
    """GET /metrics for both processes, then everything the webhook routes do not take, forwarded.
    Registered after the webhook routes: aiohttp resolves routes in the order they were added."""
    app.router.add_get("/metrics", joined_metrics(proxy=proxy, registry=registry))
    for resource in list(app.router.resources()):
        # A wrong method on the front's own paths is its own 405 (with Allow), as the daemon answers
        # it in one process; otherwise the catch-all would pass it on, and the main process says 404.
        allowed = sorted({route.method for route in resource})
        app.router.add_route("*", resource.canonical, _not_allowed(allowed))
    app.router.add_route("*", "/{tail:.*}", proxy.handle, name=PROXIED)


def _not_allowed(allowed: list[str]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def not_allowed(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    return not_allowed
