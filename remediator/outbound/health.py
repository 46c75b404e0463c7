"""HTTP health checks: one probe of a service's health endpoint, judged by status and a JSON condition.

Used by the confirm guard ("still unhealthy? then act"), by verification ("healthy again within
5m?") and by the watch after resolution (`probe` is the reusable unit: one call, one verdict).
Three answers, because "cannot ask" is not "unhealthy": `healthy=True`, `healthy=False` (wrong
status, condition false, no answer: a service that does not answer is down), and `healthy=None`
when the check could not be made at all (host not allowed, a label missing from the URL, a secret
unreadable), which each caller treats as its policy says.
"""

from __future__ import annotations

from dataclasses import dataclass

from remediator.errors import PermanentActionError, TransientActionError
from remediator.model import Alert
from remediator.outbound.client import OutboundHttp
from remediator.rules.checks import HttpCheck
from remediator.rules.templates import RenderError


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthResult:
    healthy: bool | None
    """None: the check could not be made (see `detail`)."""
    detail: str


class HealthChecker:
    def __init__(self, *, http: OutboundHttp | None) -> None:
        self._http = http

    async def probe(self, check: HttpCheck, alert: Alert) -> HealthResult:
        """One GET of the check's URL for this alert. Never raises for the service's or the alert's faults."""
        url = check.render_url(alert)
        if isinstance(url, RenderError):
            return HealthResult(healthy=None, detail=f"health check URL: {url.reason}")
        if self._http is None:
            return HealthResult(healthy=None, detail="health check: outbound HTTP is not configured")
        try:
            answer = await self._http.send(
                method="GET", url=url, headers=check.headers, timeout_s=check.timeout_s
            )
        except PermanentActionError as e:
            return HealthResult(healthy=None, detail=f"health check not made: {e}")
        except TransientActionError as e:
            return HealthResult(healthy=False, detail=f"unhealthy: {e}")
        if answer.status not in check.expect_status:
            return HealthResult(
                healthy=False,
                detail=f"unhealthy: GET {url} answered {answer.status} "
                f"(want {'/'.join(map(str, check.expect_status))})",
            )
        if check.condition is None:
            return HealthResult(healthy=True, detail=f"healthy: GET {url} answered {answer.status}")
        try:
            document = answer.json()
        except ValueError as e:
            return HealthResult(healthy=False, detail=f"unhealthy: GET {url}: the answer is not JSON ({e})")
        holds, why = check.condition.evaluate(document)
        state = "healthy" if holds else "unhealthy"
        return HealthResult(healthy=holds, detail=f"{state}: GET {url}: {why}")
