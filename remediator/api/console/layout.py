"""The page shell (head, navigation, flash messages) and the small formats every page shares:
times as "12m ago" with the UTC time on hover, and badges for severities, outcomes and statuses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from remediator.api.console.html import Html, esc, tag
from remediator.durations import format_duration

NAV: tuple[tuple[str, str], ...] = (
    ("/ui/", "Now"),
    ("/ui/incidents", "Incidents"),
    ("/ui/approvals", "Approvals"),
    ("/ui/decisions", "Decisions"),
    ("/ui/controls", "Controls"),
    ("/ui/audit", "Audit"),
)

_TONE = {
    # severities (Alertmanager labels and rule priorities)
    "critical": "bad",
    "p1": "bad",
    "page": "bad",
    "error": "bad",
    "p2": "warn",
    "warning": "warn",
    "p3": "info",
    "info": "info",
    # decisions
    "act": "ok",
    "needs_approval": "warn",
    "dry_run": "info",
    "breaker_open": "bad",
    "deferred": "warn",
    # executions and incidents
    "succeeded": "ok",
    "resolved": "ok",
    "approved": "ok",
    "accepted": "ok",
    "sent": "ok",
    "failed": "bad",
    "interrupted": "bad",
    "firing": "bad",
    "open": "bad",
    "rejected": "bad",
    "running": "info",
    "planned": "info",
    "pending": "warn",
    "half_open": "warn",
    "expired": "none",
}


def badge(value: object) -> Html:
    text = str(value) if value not in (None, "") else "none"
    return tag("span", text, class_=f"badge {_TONE.get(text.lower(), 'none')}")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def span(seconds: float) -> str:
    """A duration the way people say it at a glance: `45s`, `12m`, `2h10m`, `3d4h` (two units at most)."""
    s = max(0, round(seconds))
    if s >= 86400:
        s -= s % 3600
    elif s >= 60:
        s -= s % 60
    return format_duration(s)


def when(text: str | None, now: datetime) -> Html:
    """`<time>` reading "12m ago" (or "in 12m"), the exact UTC time in its title."""
    at = parse_time(text)
    if at is None:
        return esc("—")
    delta = (now - at).total_seconds()
    words = f"{span(delta)} ago" if delta >= 0 else f"in {span(-delta)}"
    return tag("time", words, datetime=at.isoformat(), title=at.strftime("%Y-%m-%d %H:%M:%S UTC"))


def utc(text: str | None) -> str:
    at = parse_time(text)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def hidden(name: str, value: str) -> Html:
    return tag("input", type="hidden", name=name, value=value)


def page(
    *,
    title: str,
    body: Html,
    active: str = "",
    who: tuple[str, str] | None = None,
    csrf: str = "",
    flash: Sequence[tuple[str, str]] = (),
    refresh_s: int = 0,
    pending: int = 0,
) -> Html:
    """A whole page. `who` (name, scope) shows the navigation and the logout button; without it
    (login, errors before a session) only the body. `pending` approvals are counted in the nav."""
    head = tag(
        "head",
        Html('<meta charset="utf-8">'),
        tag("meta", name="viewport", content="width=device-width, initial-scale=1"),
        tag("meta", name="color-scheme", content="light dark"),
        tag("meta", name="referrer", content="same-origin"),
        tag("title", f"{title} · remediator"),
        tag("link", rel="stylesheet", href="/ui/static/console.css"),
        tag("script", src="/ui/static/console.js", defer=True),
    )
    top: Html | str = ""
    if who is not None:
        links = []
        for href, text in NAV:
            label = f"{text} ({pending})" if href == "/ui/approvals" and pending else text
            links.append(tag("a", label, href=href, aria_current="page" if href == active else None))
        logout = tag(
            "form",
            hidden("csrf", csrf),
            tag("button", "Log out", type="submit"),
            method="post",
            action="/ui/logout",
        )
        top = tag(
            "header",
            tag(
                "div",
                tag("a", "remediator", href="/ui/", class_="brand"),
                tag("span", tag("span", f"{who[0]} ({who[1]})"), logout, class_="who"),
                class_="bar",
            ),
            tag("nav", links, aria_label="console"),
            class_="top",
        )
    notes = [tag("div", text, class_=f"banner {kind}", role="status") for kind, text in flash]
    main = tag("main", notes, tag("h1", title), body)
    document = tag("html", head, tag("body", top, main, data_refresh=refresh_s or None), lang="en")
    return Html("<!doctype html>\n" + document)
