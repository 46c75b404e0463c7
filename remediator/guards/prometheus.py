"""A small Prometheus HTTP API client: one instant query, one number.

Written here rather than taken from a library because remediator needs only
`/api/v1/query` with a timeout and a clear "unreachable" error, and the Python
Prometheus API clients are synchronous (requests) or unmaintained. An answer is
read up to `MAX_ANSWER_BYTES`, and one that is not what the API documents (a proxy's
page, a truncated body, a sample that is not a number) is "unavailable" too: the
confirm guard and the verifier judge that, never an exception from here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import aiohttp

from remediator.errors import RemediatorError
from remediator.outbound import read_bounded


class PrometheusUnavailable(RemediatorError):
    """Prometheus could not answer (connection, timeout, 5xx, or an error status)."""


MAX_ANSWER_BYTES = 1 << 20
"""Only the first sample is used: a query whose answer is larger should aggregate (sum, max)."""


class PrometheusClient:
    def __init__(self, *, session: aiohttp.ClientSession, base_url: str, timeout_s: float) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/api/v1/query"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def query(self, promql: str) -> float | None:
        """The value of the first sample of the result (vector or scalar); None for an empty result."""
        try:
            async with self._session.get(self._url, params={"query": promql}, timeout=self._timeout) as r:
                raw = await read_bounded(r.content, MAX_ANSWER_BYTES)
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as e:
            raise PrometheusUnavailable(f"{type(e).__name__}: {e}".rstrip(": ")) from e
        if len(raw) > MAX_ANSWER_BYTES:
            raise PrometheusUnavailable(
                f"the answer is larger than {MAX_ANSWER_BYTES} bytes (aggregate the query)"
            )
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise PrometheusUnavailable(f"HTTP {status}: the answer is not JSON ({str(e)[:100]})") from e
        if status >= 400 and not isinstance(body, dict):
            raise PrometheusUnavailable(f"HTTP {status}")
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "unexpected answer") if isinstance(body, dict) else "unexpected answer"
            raise PrometheusUnavailable(f"query failed: {str(error)[:200]}")
        try:
            return _value(body["data"])
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as e:
            raise PrometheusUnavailable(f"unexpected answer: {type(e).__name__}: {e}"[:200]) from e


def _value(data: Any) -> float | None:
    result = data.get("result")
    if data.get("resultType") == "scalar" and isinstance(result, list):
        return _number(result[1])
    if data.get("resultType") == "vector" and isinstance(result, list):
        return _number(result[0]["value"][1]) if result else None
    raise PrometheusUnavailable(f"query returned a {data.get('resultType')!r}, not a vector or scalar")


def _number(text: Any) -> float | None:
    if not isinstance(text, str):  # the API sends sample values as strings
        raise TypeError(f"sample value {text!r} is not a string")
    value = float(text)
    return None if math.isnan(value) else value


def promql_escape(value: str) -> str:
    """Label values go inside double-quoted PromQL strings: escape what would end or break them."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
