"""Stand-ins for PagerDuty and the chat channels in rule tests: what remediator pages and says, and when.

A test's config names PagerDuty services (`pagerduty.routing_keys`; `default` is `routing_key`) and
chat channels (`notify.channels`) as the production config does, for escalation ladders, updates and
`escalate`/`notify` steps. Only the names count: `settings_for` points every one at one local aiohttp
server (127.0.0.1), which records each PagerDuty event (service, action, severity) and each message
(channel, text) with its simulated time, for `expect.pages` and `expect.notifications`. No key or URL
a test gives is ever used, so a rule test cannot page anyone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from remediator.config import NotifyChannel, NotifySettings, PagerDutySettings, SecretRef, Settings
from remediator.durations import format_duration
from remediator.ruletest.schema import ExpectedIncident, ExpectedMessage, ExpectedPage
from remediator.store.incidents import IncidentRecord

ENV_PREFIX = "REMEDIATOR_RULETEST_"
"""The environment variables the stand-ins' keys and URLs are passed in (set only during a test)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenPage:
    at_s: float
    page: str
    action: str
    severity: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenMessage:
    at_s: float
    channel: str
    text: str


@dataclass(kw_only=True)
class Outside:
    """The recorder: every page and message, in the order they arrived."""

    now: Callable[[], datetime]
    start: datetime
    pages: list[SeenPage] = field(default_factory=list)
    messages: list[SeenMessage] = field(default_factory=list)
    url: str = ""

    def _at(self) -> float:
        return round((self.now() - self.start).total_seconds(), 3)

    async def _pagerduty(self, request: web.Request) -> web.Response:
        body = await request.json()
        page = str(body.get("routing_key", "")).removeprefix("ruletest-page-")
        severity = (body.get("payload") or {}).get("severity")
        self.pages.append(
            SeenPage(at_s=self._at(), page=page, action=body.get("event_action", ""), severity=severity)
        )
        return web.json_response({"status": "success", "dedup_key": body.get("dedup_key")}, status=202)

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body.get("text") if isinstance(body, dict) and "text" in body else json.dumps(body)
        self.messages.append(
            SeenMessage(at_s=self._at(), channel=request.match_info["channel"], text=str(text))
        )
        return web.Response(text="ok")


@asynccontextmanager
async def serve_outside(outside: Outside) -> AsyncIterator[Outside]:
    app = web.Application()
    app.router.add_post("/v2/enqueue", outside._pagerduty)
    app.router.add_post("/chat/{channel}", outside._chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    outside.url = f"http://127.0.0.1:{port}"
    try:
        yield outside
    finally:
        await runner.cleanup()


def settings_for(
    settings: Settings, outside: Outside
) -> tuple[PagerDutySettings, NotifySettings, dict[str, str]]:
    """The test's PagerDuty services and channels, by name, all pointed at `outside`; and the
    environment variables that carry their keys and URLs."""
    env: dict[str, str] = {}

    def ref(kind: str, i: int, value: str) -> SecretRef:
        name = f"{ENV_PREFIX}{kind}_{i}"
        env[name] = value
        return SecretRef(env=name)

    pagers = {
        name: ref("PAGE", i, f"ruletest-page-{name}")
        for i, name in enumerate(settings.pagerduty.routing_keys)
    }
    pagerduty = PagerDutySettings(
        webhook_secrets=(),
        routing_key=ref("PAGE", len(pagers), "ruletest-page-default"),
        routing_keys=pagers,
        events_url=f"{outside.url}/v2/enqueue",
    )
    notify = NotifySettings(
        channels={
            name: NotifyChannel(kind=ch.kind, url=ref("CHAT", i, f"{outside.url}/chat/{name}"))
            for i, (name, ch) in enumerate(settings.notify.channels.items())
        },
        templates_dir=settings.notify.templates_dir,
    )
    return pagerduty, notify, env


# --- comparing --------------------------------------------------------------------------------------------


def compare_pages(expected: Sequence[ExpectedPage], seen: Sequence[SeenPage]) -> list[str]:
    return _pairs(expected, seen, _page_matches, _show_page, _show_seen_page, what="pages")


def compare_messages(expected: Sequence[ExpectedMessage], seen: Sequence[SeenMessage]) -> list[str]:
    return _pairs(expected, seen, _message_matches, _show_message, _show_seen_message, what="messages")


def compare_incidents(
    expected: Sequence[ExpectedIncident], got: Sequence[tuple[IncidentRecord, list[str]]]
) -> list[str]:
    """`got`: each incident, in the order they opened, with its timeline's event kinds."""
    return _pairs(expected, got, _incident_matches, _show_incident, _show_got_incident, what="incidents")


def _pairs(
    expected: Sequence[Any],
    seen: Sequence[Any],
    matches: Callable[[Any, Any], bool],
    show: Callable[[Any], str],
    show_seen: Callable[[Any], str],
    *,
    what: str,
) -> list[str]:
    lines: list[str] = []
    for i in range(max(len(expected), len(seen))):
        e = expected[i] if i < len(expected) else None
        g = seen[i] if i < len(seen) else None
        if e is not None and g is not None and matches(e, g):
            continue
        lines.append(f"expected {show(e) if e is not None else f'(no more {what})'}")
        lines.append(f"got      {show_seen(g) if g is not None else f'(no more {what})'}")
    return lines


def _at_matches(at: float | None, at_s: float) -> bool:
    return at is None or abs(at - at_s) < 0.001


def _at(at: float | None) -> str:
    return f" at {format_duration(at)}" if at is not None else ""


def _page_matches(e: ExpectedPage, g: SeenPage) -> bool:
    return (
        e.page == g.page
        and e.action == g.action
        and _at_matches(e.at, g.at_s)
        and (e.severity is None or e.severity == g.severity)
    )


def _show_page(e: ExpectedPage) -> str:
    severity = f" ({e.severity})" if e.severity else ""
    return f"{e.action} {e.page}{severity}{_at(e.at)}"


def _show_seen_page(g: SeenPage) -> str:
    return f"{g.action} {g.page} ({g.severity or 'no severity'}){_at(g.at_s)}"


def _message_matches(e: ExpectedMessage, g: SeenMessage) -> bool:
    return e.channel == g.channel and _at_matches(e.at, g.at_s) and (e.text is None or e.text in g.text)


def _show_message(e: ExpectedMessage) -> str:
    text = f" {e.text!r}" if e.text is not None else ""
    return f"{e.channel}{_at(e.at)}{text}"


def _show_seen_message(g: SeenMessage) -> str:
    first = g.text.splitlines()[0] if g.text else ""
    return f"{g.channel}{_at(g.at_s)} {first!r}"


def _incident_matches(e: ExpectedIncident, got: tuple[IncidentRecord, list[str]]) -> bool:
    i, kinds = got
    return (
        e.state == i.state
        and (e.rule is None or e.rule == i.rule)
        and (e.severity is None or e.severity == i.severity)
        and (e.reopened is None or e.reopened == i.reopened)
        and (e.acknowledged_by is None or e.acknowledged_by == i.acknowledged_by)
        and (e.events is None or e.events == kinds)
    )


def _show_incident(e: ExpectedIncident) -> str:
    parts: list[str] = [e.state]
    for key in ("rule", "severity", "reopened", "acknowledged_by"):
        value = getattr(e, key)
        if value is not None:
            parts.append(f"{key}={value}")
    if e.events is not None:
        parts.append(f"events=[{', '.join(e.events)}]")
    return " ".join(parts)


def _show_got_incident(got: tuple[IncidentRecord, list[str]]) -> str:
    i, kinds = got
    ack = f" acknowledged_by={i.acknowledged_by}" if i.acknowledged_by else ""
    return (
        f"{i.state} rule={i.rule} severity={i.severity or '-'} reopened={i.reopened}{ack} "
        f"events=[{', '.join(kinds)}]"
    )
