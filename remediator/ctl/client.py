"""One daemon's /api/v1 over HTTP, on the standard library (urllib): no event loop, no daemon code."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any


class CtlError(Exception):
    """What to print and the exit status: 1 the API refused, 2 usage or the daemon unreachable."""

    def __init__(self, message: str, *, code: int, detail: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class Client:
    """One daemon's /api/v1, with a bearer token."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 15.0) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self._token = token
        self._timeout_s = timeout_s

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The answer: parsed JSON, or the text of another content type (a Markdown postmortem)."""
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        url = self.base + path + (("?" + urllib.parse.urlencode(params)) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                raw = response.read()
                kind = response.headers.get_content_type()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)
                message, detail = str(err.get("error", raw)), err.get("detail")
            except (ValueError, AttributeError):
                message, detail = raw.decode(errors="replace")[:500] or e.reason, None
            raise CtlError(f"HTTP {e.code}: {message}", code=1, detail=detail) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise CtlError(f"cannot reach the daemon at {self.base}: {reason}", code=2) from None
        if kind == "application/json":
            return json.loads(raw)
        return raw.decode()


def quoted(segment: str) -> str:
    """One path segment, URL-encoded whole (a breaker key holds '/' and ':')."""
    return urllib.parse.quote(segment, safe="")
