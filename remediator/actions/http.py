"""The `http_request` action: one call to a service's own admin endpoint (maintenance mode, cache clear).

Same shape as the Kubernetes actions: `plan()` says what would be sent and never sends (the
dry-run and the audit), `execute()` sends it once; the runner retries `TransientActionError`
(timeouts, connection errors, 408, 429 with its Retry-After, 5xx) by the rule's policy. Any other
status outside `expect_status` fails at once and escalates. The URL was rendered by the rule
(labels percent-encoded, in path and query only); the allowlist and redirect rules are the
client's (outbound/client.py). Secret headers show in the plan as where they live, not as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.errors import PermanentActionError, TransientActionError
from remediator.model import ActionResult, ActionSpec, Change, Target
from remediator.outbound.client import OutboundHttp, describe_headers
from remediator.rules.checks import headers_from_params

_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def http_plan(spec: ActionSpec, target: Target, *, refusal: str | None = None) -> ActionResult:
    """What `http_request` would send, without sending. `refusal` (host not allowed) fails the plan."""
    p = spec.params
    method, url = str(p["method"]), str(p["url"])
    if refusal:
        raise PermanentActionError(f"http_request {method} {url}: {refusal}")
    expect = "/".join(str(s) for s in p.get("expect_status") or ())
    return ActionResult(
        kind="http_request",
        target=target,
        changes=(Change(path=f"{method} {url}", before=None, after=_request_shape(p)),),
        summary=f"would {method} {url} (expect {expect})",
        applied=False,
    )


def _request_shape(p: Mapping[str, Any]) -> dict[str, Any]:
    """The request as the journal records it: headers with secrets described, the JSON body."""
    shape: dict[str, Any] = {}
    headers = describe_headers(headers_from_params(p.get("headers") or {}))
    if headers:
        shape["headers"] = headers
    if p.get("body") is not None:
        shape["body"] = p["body"]
    return shape


class HttpActions:
    """`http_request` on the shared allowlisted client."""

    kinds: tuple[str, ...] = ("http_request",)

    def __init__(self, *, client: OutboundHttp) -> None:
        self._client = client

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult:
        return http_plan(spec, target, refusal=self._client.refusal(str(spec.params["url"])))

    async def execute(self, spec: ActionSpec, target: Target) -> ActionResult:
        p = spec.params
        method, url = str(p["method"]), str(p["url"])
        expect = tuple(int(s) for s in p.get("expect_status") or (200,))
        answer = await self._client.send(
            method=method,
            url=url,
            headers=headers_from_params(p.get("headers") or {}),
            body=p.get("body"),
            timeout_s=float(p.get("timeout") or 10.0),
        )
        if answer.status in expect:
            return ActionResult(
                kind="http_request",
                target=target,
                changes=(Change(path=f"{method} {url}", before=None, after=f"HTTP {answer.status}"),),
                summary=f"{method} {url} -> {answer.status}",
                applied=True,
            )
        want = "/".join(str(s) for s in expect)
        message = f"{method} {url} answered {answer.status} (want {want})"
        if answer.status in _RETRYABLE:
            raise TransientActionError(message, retry_after_s=answer.retry_after_s)
        raise PermanentActionError(message)
