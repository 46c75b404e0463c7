"""The console's "now" page (mode, pending approvals, open incidents, deferred decisions, breakers)
and the incidents list, from plain data to safe HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from remediator.api.console.html import Html, esc, join, tag
from remediator.api.console.layout import badge, hidden, span, when
from remediator.api.console.views import (
    Actor,
    ModeView,
    form,
    incident_href,
    incident_title,
    mode_banner,
    pager,
    rule_modes,
    select,
    text_field,
)
from remediator.guards.breaker import BreakerView


def approvals_short(approvals: Sequence[Mapping[str, Any]], now: datetime) -> Html:
    if not approvals:
        return esc("")
    rows = [
        tag(
            "li",
            tag(
                "a",
                tag("div", f"{a['rule']} → {a['target']}", class_="title"),
                tag(
                    "div", "requested ", when(a.get("created_at"), now), " · review and decide", class_="meta"
                ),
                href=f"/ui/approvals#approval-{a['id']}",
                class_="row-link",
            ),
        )
        for a in approvals
    ]
    return join([tag("h2", f"Waiting for you ({len(approvals)})"), tag("ul", rows, class_="list card warn")])


def incident_rows(incidents: Sequence[Mapping[str, Any]], now: datetime) -> Html:
    rows = []
    for i in incidents:
        labels = i.get("labels") or {}
        summary = (i.get("annotations") or {}).get("summary", "")
        if i.get("status") == "firing" and i.get("starts_at"):
            age: object = [
                "firing for ",
                span((now - datetime.fromisoformat(i["starts_at"])).total_seconds()),
            ]
        else:
            age = ["started ", when(i.get("starts_at"), now)]
        rows.append(
            tag(
                "li",
                tag(
                    "a",
                    tag(
                        "div",
                        badge(i.get("severity") or labels.get("severity")),
                        " ",
                        incident_title(i),
                        class_="title",
                    ),
                    tag("div", summary, class_="meta") if summary else "",
                    tag(
                        "div",
                        badge(i.get("status")),
                        " ",
                        age,
                        f" · {i.get('alerts', 0)} alert(s) · {i.get('source', '')}",
                        class_="meta",
                    ),
                    href=incident_href(i["id"]),
                    class_="row-link",
                ),
            )
        )
    return tag("ul", rows, class_="list card")


def deferral_rows(deferrals: Sequence[Any], now: datetime) -> Html:
    rows = [
        tag(
            "li",
            tag("div", badge(d.severity), " ", f"{d.rule} → {d.target}", class_="title"),
            tag("div", d.reason, class_="meta"),
            tag(
                "div",
                "waiting since ",
                when(d.created_at.isoformat(), now),
                f" · decided again {d.attempts} time(s)",
                class_="meta",
            ),
        )
        for d in deferrals
    ]
    return tag("ul", rows, class_="list card")


def breaker_rows(breakers: Sequence[BreakerView], actor: Actor, now: datetime) -> Html:
    rows = []
    for n, b in enumerate(breakers):
        times: list[object] = []
        if b.opened_at:
            times += ["opened ", when(b.opened_at.isoformat(), now)]
        if b.half_open_at and b.state == "open":
            times += [" · half-open ", when(b.half_open_at.isoformat(), now)]
        reset = (
            form(
                "/ui/breakers/reset",
                actor,
                hidden("key", f"{b.rule}:{b.target}"),
                text_field("reason", "Reason", required=True, key=f"breaker-{n}"),
                button="Reset: the target is healthy",
                style="",
            )
            if actor.can_act
            else ""
        )
        rows.append(
            tag(
                "li",
                tag("div", badge(b.state), " ", f"{b.rule} → {b.target}", class_="title"),
                tag("div", f"{b.failures} consecutive failure(s) · ", times, class_="meta"),
                reset,
            )
        )
    return tag("ul", rows, class_="list card")


def now_page(
    *,
    mode: ModeView,
    approvals: Sequence[Mapping[str, Any]],
    incidents: Sequence[Mapping[str, Any]],
    deferrals: Sequence[Any] | None,
    breakers: Sequence[BreakerView],
    health: Mapping[str, Any],
    actor: Actor,
    now: datetime,
) -> Html:
    parts: list[object] = [mode_banner(mode, now), rule_modes(mode, now), approvals_short(approvals, now)]
    parts.append(tag("h2", f"Open incidents ({len(incidents)})"))
    parts.append(
        incident_rows(incidents, now) if incidents else tag("p", "No open incidents.", class_="card")
    )
    if deferrals:
        parts += [tag("h2", f"Deferred work ({len(deferrals)})"), deferral_rows(deferrals, now)]
    if breakers:
        parts += [tag("h2", f"Circuit breakers ({len(breakers)})"), breaker_rows(breakers, actor, now)]
    journal = f"journal backlog {health['backlog']}" + ("" if health["journal_ok"] else " (unhealthy)")
    kube = "Kubernetes connected" if health["kube"] else "no Kubernetes cluster: every action is a dry-run"
    parts.append(tag("p", f"{journal} · {kube} · {health['rules']} rules loaded", class_="meta"))
    return join(parts)


# -- incidents ------------------------------------------------------------------------------------------


def incidents_page(
    incidents: Sequence[Mapping[str, Any]], *, status: str, next_cursor: str | None, now: datetime
) -> Html:
    filters = tag(
        "form",
        select("status", "Status", (("", "any"), ("firing", "firing"), ("resolved", "resolved")), status),
        tag("div", tag("button", "Show", type="submit")),
        method="get",
        action="/ui/incidents",
        class_="filters card",
    )
    listing = (
        incident_rows(incidents, now) if incidents else tag("p", "No incidents on this page.", class_="card")
    )
    return join([filters, listing, pager("/ui/incidents", {"status": status}, next_cursor)])
