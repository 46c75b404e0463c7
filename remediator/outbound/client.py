"""The allowlisted HTTP client behind `http_request` actions and `http` health checks.

Every request, and every redirect hop, is checked against `http_actions.allowed_hosts` (globs
on `host` or `host:port`; empty: nothing is allowed), so neither a label value nor a server's
`Location` header can send remediator elsewhere (SSRF). Redirects are followed by hand, only to
the same origin and at most `max_redirects` times. Secret headers are resolved at send time;
the values never leave this module (plans show `<secret env NAME>`). Errors are mapped to what
the caller should do: `TransientActionError` (timeouts, connection errors) to retry,
`PermanentActionError` (refused host, unreadable secret, refused redirect) to stop. Statuses are
the caller's to judge: an action and a health check want different ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

from remediator.errors import PermanentActionError, TransientActionError
from remediator.rules.checks import Header, SecretUnavailable, SecretValue
from remediator.rules.urls import origin_of

_REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "remediator"


def host_allowed(url: str, patterns: Sequence[str]) -> bool:
    """Whether `url`'s host (or `host:port`) matches one of the glob `patterns`."""
    try:
        _, host, port = origin_of(url)
    except ValueError:
        return False
    return any(fnmatchcase(f"{host}:{port}" if ":" in p else host, p.lower()) for p in patterns)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpAnswer:
    """What came back: status, the body up to the bound, and whether it was cut."""

    status: int
    body: bytes
    truncated: bool
    url: str
    retry_after_s: float | None = None

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not (or was cut)."""
        if self.truncated:
            raise ValueError("the answer is larger than the bound")
        return json.loads(self.body)


class OutboundHttp:
    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        allowed_hosts: Sequence[str],
        max_redirects: int = 3,
        max_body_bytes: int = 65536,
    ) -> None:
        self._session = session
        self._allowed = tuple(allowed_hosts)
        self._max_redirects = max_redirects
        self._max_body = max_body_bytes

    def refusal(self, url: str) -> str | None:
        """Why a request to `url` would be refused, or None: for plans, which never send."""
        try:
            _, host, port = origin_of(url)
        except ValueError as e:
            return str(e)
        if not self._allowed:
            return f"host {host!r} refused: http_actions.allowed_hosts is empty (no HTTP call is allowed)"
        if not host_allowed(url, self._allowed):
            return f"host {host}:{port} refused: not in http_actions.allowed_hosts"
        return None

    async def send(
        self,
        *,
        method: str,
        url: str,
        headers: Mapping[str, Header],
        body: Any = None,
        timeout_s: float,
    ) -> HttpAnswer:
        """Send one request (following same-origin redirects); raises Transient/PermanentActionError."""
        if problem := self.refusal(url):
            raise PermanentActionError(problem)
        resolved = _resolve(headers)
        resolved.setdefault("User-Agent", USER_AGENT)
        origin = origin_of(url)
        hops = 0
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    answer, location = await self._once(method, url, resolved, body, timeout_s)
                    if location is None:
                        return answer
                    hops += 1
                    target = urljoin(url, location)
                    if urlsplit(target).scheme not in ("http", "https") or origin_of(target) != origin:
                        raise PermanentActionError(
                            f"{method} {url}: refused a redirect ({answer.status}) to another origin: "
                            f"{_short(target)}"
                        )
                    if hops > self._max_redirects:
                        raise PermanentActionError(
                            f"{method} {url}: more than {self._max_redirects} redirects"
                        )
                    if answer.status in (301, 302, 303) and method != "HEAD":
                        method, body = "GET", None
                    url = target
        except TimeoutError as e:
            raise TransientActionError(f"{method} {url}: no answer within {timeout_s:g}s") from e
        except aiohttp.ClientError as e:
            raise TransientActionError(f"{method} {url}: {type(e).__name__}: {_short(str(e))}") from e

    async def _once(
        self, method: str, url: str, headers: dict[str, str], body: Any, timeout_s: float
    ) -> tuple[HttpAnswer, str | None]:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        async with self._session.request(
            method,
            URL(url, encoded=True),  # rendered URLs are already percent-encoded: never re-quote them
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            **kwargs,
        ) as resp:
            data = await read_bounded(resp.content, self._max_body)
            location = resp.headers.get("Location") if resp.status in _REDIRECTS else None
            answer = HttpAnswer(
                status=resp.status,
                body=data[: self._max_body],
                truncated=len(data) > self._max_body,
                url=url,
                retry_after_s=_retry_after(resp.headers.get("Retry-After")),
            )
        return answer, location


async def read_bounded(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to `limit` + 1 bytes (one more says it was longer). `read(n)` returns what has
    arrived, up to n: one call can stop at any packet boundary of a longer body."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _resolve(headers: Mapping[str, Header]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        if isinstance(value, SecretValue):
            try:
                out[name] = value.resolve()
            except SecretUnavailable as e:
                raise PermanentActionError(f"header {name}: {e}") from None
        else:
            out[name] = value
    return out


def describe_headers(headers: Mapping[str, Header]) -> dict[str, str]:
    """Headers as plans and the journal show them: secrets by where they live, never by value."""
    return {k: (v.describe() if isinstance(v, SecretValue) else v) for k, v in headers.items()}


def _retry_after(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return max(0.0, min(float(raw), 300.0))
    except ValueError:
        return None


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
