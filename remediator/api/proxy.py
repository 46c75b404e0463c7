"""The front's reverse proxy: every request the front does not answer itself goes, streamed, to the
daemon's main process on its private Unix socket, and the answer comes back the same way.

Written here on aiohttp's own client and server streaming APIs rather than taken from a library: the
aiohttp reverse proxies on PyPI are a 2016 project and a 0.1 release with one maintainer, and what
matters here is remediator's policy, not the plumbing (~200 lines): which headers cross (RFC 9110
7.6.1's hop-by-hop ones do not), the body limit enforced before anything reaches the main process,
who the client is (X-Forwarded-For, set here and trusted only on the private socket), and failures
answered as remediator's one-line JSON errors (502 down, 504 slow) that say what to check.

One ClientSession for the process's lifetime, with a cookie jar that keeps nothing: the session is
shared by every client, and a Set-Cookie stored in it would be sent on the next client's request.
Bodies are passed through as sent (no decompression either way), except a request body the server
side has already decoded (Content-Encoding: gzip), which is forwarded decoded, without that header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy, istr
from yarl import URL

from remediator.api.errors import error_response, one_line
from remediator.logs import get_logger

log = get_logger("remediator.api.proxy")

HOP_BY_HOP: frozenset[istr] = frozenset(
    istr(h)
    for h in (
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Proxy-Connection",
        # Answered by the front's own server (100 Continue), never passed on.
        "Expect",
    )
)
"""RFC 9110 7.6.1 (and 7.8, 10.1.1): meaningful for one connection only. Proxy-* headers and those a
Connection header names are dropped too (`end_to_end`)."""

FORWARDED: frozenset[istr] = frozenset(istr(h) for h in ("X-Forwarded-For", "X-Forwarded-Proto"))
"""Set by the front from the connection it sees; any a client sends is dropped, never trusted."""

CHUNK_BYTES = 64 * 1024
UPSTREAM = URL("http://remediator")
"""Any host will do: the connector always dials the Unix socket. The client's Host header is sent
as it came, so the main process sees the site the browser sees (the console's same-origin check)."""


def end_to_end(headers: CIMultiDictProxy[str], *, drop: Iterable[istr] = ()) -> CIMultiDict[str]:
    """The headers a proxy passes on: all but the hop-by-hop ones, those the Connection header names,
    Proxy-* and `drop`. Repeated headers (Set-Cookie) stay repeated."""
    named = {
        istr(token.strip()) for value in headers.getall(hdrs.CONNECTION, ()) for token in value.split(",")
    }
    skip = HOP_BY_HOP | named | frozenset(drop)
    kept: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name in skip or name.lower().startswith("proxy-"):
            continue
        kept.add(name, value)
    return kept


class _BodyTooLarge(Exception):
    pass


@dataclass
class _Upload:
    """The client's body on its way up, counted against the limit; what went wrong reading it."""

    request: web.Request
    limit: int
    sent: int = 0
    too_large: bool = False
    unreadable: str | None = None
    """Why the client's body could not be read (a truncated chunk, gzip that is not)."""

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.request.content.iter_chunked(CHUNK_BYTES):
                self.sent += len(chunk)
                if self.sent > self.limit:
                    self.too_large = True
                    raise _BodyTooLarge
                yield chunk
        except (aiohttp.http_exceptions.HttpProcessingError, web.RequestPayloadError) as e:
            self.unreadable = one_line(str(e), 200)
            raise


@dataclass(kw_only=True)
class Proxy:
    """Forwards requests to the HTTP server on `socket_path`. Use as `async with Proxy(...) as proxy`."""

    socket_path: Path
    max_body_bytes: int
    """A larger request body is refused here (413), before it reaches the main process."""
    timeout_s: float
    """The main process answers (headers, then each piece of the body) within this, or 504."""
    connect_timeout_s: float = 5.0
    """Connecting, and waiting for one of the `max_connections` connections to free up."""
    max_connections: int = 100
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> Proxy:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(self.socket_path), limit=self.max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=(hdrs.USER_AGENT, hdrs.ACCEPT_ENCODING, hdrs.ACCEPT, hdrs.CONTENT_TYPE),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self.connect_timeout_s, sock_read=self.timeout_s
            ),
            raise_for_status=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Proxy used outside `async with`"
        return self._session

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The catch-all handler: the main process's answer, or a one-line JSON error of the front's."""
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            return _too_large(self.max_body_bytes)
        headers = end_to_end(request.headers, drop=FORWARDED)
        headers[hdrs.X_FORWARDED_FOR] = request.remote or ""
        headers[hdrs.X_FORWARDED_PROTO] = request.scheme
        upload: _Upload | None = None
        if request.can_read_body:
            upload = _Upload(request=request, limit=self.max_body_bytes)
            if hdrs.CONTENT_ENCODING in headers:
                # aiohttp's server has decoded it already: forward what was decoded, chunked.
                headers.popall(hdrs.CONTENT_ENCODING)
                headers.popall(hdrs.CONTENT_LENGTH, None)
        rel = request.rel_url
        url = URL.build(
            scheme=UPSTREAM.scheme,
            host=UPSTREAM.raw_host or "",
            path=rel.raw_path,
            query_string=rel.raw_query_string,
            encoded=True,
        )
        try:
            async with self.session.request(
                request.method,
                url,
                headers=headers,
                data=upload.chunks() if upload is not None else None,
                allow_redirects=False,
            ) as upstream:
                return await self._relay(request, upstream)
        except (aiohttp.ClientError, TimeoutError) as e:
            return self._failure(request, e, upload)

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        headers = end_to_end(upstream.headers)
        if upstream.content_length is not None and upstream.content_length <= CHUNK_BYTES:
            # Most answers (JSON, a console page) are small: read whole, answered in one write.
            body = await upstream.read()
            return web.Response(status=upstream.status, reason=upstream.reason, headers=headers, body=body)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(headers)
        if hdrs.CONTENT_LENGTH not in response.headers and upstream.status not in (204, 304):
            response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as e:
            # Too late for an error answer: the status went out. Cut the connection so the client
            # sees a truncated answer, not a complete-looking one.
            log.warning(
                "proxy: the main process's answer broke off",
                method=request.method,
                path=request.path,
                error=_describe(e),
            )
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
        return response

    def _failure(self, request: web.Request, e: BaseException, upload: _Upload | None) -> web.Response:
        if upload is not None and upload.too_large:
            return _too_large(self.max_body_bytes)
        if upload is not None and upload.unreadable is not None:
            response = error_response(400, f"cannot read the request body: {upload.unreadable}")
            response.force_close()
            return response
        if isinstance(e, TimeoutError):
            status, reason = (
                504,
                f"the daemon's main process did not answer within {self.timeout_s:g}s: it is "
                "overloaded or stuck; check its log and load (/metrics, remediator_queue_depth)",
            )
        elif isinstance(e, aiohttp.ClientConnectorError | FileNotFoundError | ConnectionRefusedError):
            status, reason = (
                502,
                f"the daemon's main process is not reachable on {self.socket_path} "
                f"({_describe(e)}): is it running? check the daemon's log",
            )
        else:
            status, reason = (
                502,
                f"the daemon's main process gave no valid answer ({_describe(e)}): check the daemon's log",
            )
        log.warning(
            "proxy: no answer from the main process",
            method=request.method,
            path=request.path,
            status=status,
            error=_describe(e),
        )
        return error_response(status, reason, headers={"Retry-After": "5"} if status == 504 else None)

    async def get(self, path: str) -> tuple[int, bytes, str]:
        """A GET of the front's own (GET /metrics): status, body, content type. Raises UpstreamError."""
        try:
            async with self.session.get(UPSTREAM.with_path(path)) as upstream:
                return upstream.status, await upstream.read(), upstream.headers.get(hdrs.CONTENT_TYPE, "")
        except TimeoutError:
            raise UpstreamError(
                504,
                f"the daemon's main process did not answer GET {path} within {self.timeout_s:g}s: it is "
                "overloaded or stuck; check its log",
            ) from None
        except aiohttp.ClientError as e:
            raise UpstreamError(
                502,
                f"the daemon's main process did not answer GET {path} on {self.socket_path} "
                f"({_describe(e)}): is it running? check the daemon's log",
            ) from None


class UpstreamError(Exception):
    """The main process did not answer; the message says what to check."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _too_large(limit: int) -> web.Response:
    response = error_response(413, f"request body too large (limit {limit} bytes)")
    response.force_close()  # the unread rest of the body must not be parsed as a request
    return response


def _describe(e: BaseException) -> str:
    """One line naming what failed, without aiohttp's repr of the connection key."""
    cause = e.__cause__ or e.__context__
    if isinstance(e, aiohttp.ClientConnectorError):
        return one_line(e.os_error.strerror or type(e.os_error).__name__, 120)
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(cause, OSError) and cause.strerror:
        return one_line(cause.strerror, 120)
    return one_line(str(e) or type(e).__name__, 120)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def trust_forwarded() -> Any:
    """Middleware for the main process behind the front: the client's address and scheme are the
    ones the front saw (X-Forwarded-For, X-Forwarded-Proto), so the console's login throttling counts
    per client, not per front. Only for a server on the private socket the front alone can reach."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        remote = request.headers.get(hdrs.X_FORWARDED_FOR)
        scheme = request.headers.get(hdrs.X_FORWARDED_PROTO)
        if remote is None and scheme is None:
            return await handler(request)
        changes: dict[str, Any] = {}
        if remote:
            changes["remote"] = remote.split(",")[-1].strip()
        if scheme in ("http", "https"):
            changes["scheme"] = scheme
        return await handler(request.clone(**changes))

    return forwarded


__all__ = ["HOP_BY_HOP", "Proxy", "UpstreamError", "end_to_end", "trust_forwarded"]
