"""A small Prometheus HTTP API client: one instant query, one number.

Written here rather than taken from a library because remediator needs only
`/api/v1/query` with a timeout and a clear "unreachable" error, and the Python
Prometheus API clients are synchronous (requests) or unmaintained.
"""

from __future__ import annotations

import math

import aiohttp

from remediator.errors import RemediatorError


class PrometheusUnavailable(RemediatorError):
    """Prometheus could not answer (connection, timeout, 5xx, or an error status)."""


class PrometheusClient:
    def __init__(self, *, session: aiohttp.ClientSession, base_url: str, timeout_s: float) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/api/v1/query"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def query(self, promql: str) -> float | None:
        """The value of the first sample of the result (vector or scalar); None for an empty result."""
        try:
            async with self._session.get(self._url, params={"query": promql}, timeout=self._timeout) as r:
                body = await r.json(content_type=None)
                if r.status >= 400 and not isinstance(body, dict):
                    raise PrometheusUnavailable(f"HTTP {r.status}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise PrometheusUnavailable(f"{type(e).__name__}: {e}".rstrip(": ")) from e
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "unexpected answer") if isinstance(body, dict) else "unexpected answer"
            raise PrometheusUnavailable(f"query failed: {error}")
        data = body.get("data", {})
        result = data.get("result")
        if data.get("resultType") == "scalar" and isinstance(result, list):
            return _number(result[1])
        if data.get("resultType") == "vector" and isinstance(result, list):
            return _number(result[0]["value"][1]) if result else None
        raise PrometheusUnavailable(f"query returned a {data.get('resultType')!r}, not a vector or scalar")


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) else value


def promql_escape(value: str) -> str:
    """Label values go inside double-quoted PromQL strings: escape what would end or break them."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
