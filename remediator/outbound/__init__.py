"""Outbound HTTP to the services remediator acts on: `http_request` actions and `http` health checks.

One client (`client.OutboundHttp`) enforces what a label must never change: the host is checked
against `http_actions.allowed_hosts` before every request and every redirect (a redirect to
another origin is refused), credentials come from secret references resolved at send time and
never appear in plans, logs or the journal, and answers are read only up to a bound.
`health.HealthChecker` runs a rule's `http` check on it.
"""

from remediator.outbound.client import HttpAnswer, OutboundHttp, host_allowed, read_bounded
from remediator.outbound.health import HealthChecker, HealthResult

__all__ = ["HealthChecker", "HealthResult", "HttpAnswer", "OutboundHttp", "host_allowed", "read_bounded"]
