"""Page bodies for the console, from plain data to safe HTML: now, incidents, approvals, decisions,
controls, audit and the login form. No I/O here: handlers.py reads and calls, these only render."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from remediator.api.console.html import Html, esc, join, tag
from remediator.api.console.layout import badge, hidden, span, when
from remediator.engine.mode import Pause
from remediator.guards.breaker import BreakerView
from remediator.override import Preview

PAUSE_CHOICES: tuple[tuple[str, str], ...] = (
    ("15m", "15 minutes"),
    ("30m", "30 minutes"),
    ("1h", "1 hour"),
    ("2h", "2 hours"),
    ("4h", "4 hours"),
    ("8h", "8 hours"),
    ("", "until resumed"),
)


@dataclass(frozen=True, kw_only=True)
class ModeView:
    overall: str
    """running, paused or dry-run."""
    paused: Pause | None
    paused_rules: Mapping[str, Pause]
    dry_run_reason: str | None
    dry_run_rules: Sequence[str]


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who looks at the page, and what the forms need."""

    can_act: bool
    csrf: str


# -- shared pieces ------------------------------------------------------------------------------------


def form(action: str, actor: Actor, *fields: object, button: str, style: str = "primary") -> Html:
    return tag(
        "form",
        hidden("csrf", actor.csrf),
        fields,
        tag("div", tag("button", button, type="submit", class_=style), class_="buttons"),
        method="post",
        action=action,
        class_="act",
    )


def text_field(
    name: str, label: str, *, required: bool = False, placeholder: str = "", key: object = ""
) -> Html:
    """A labelled text input; `key` tells apart the ids of several forms on one page."""
    field_id = f"f-{name}{'-' + str(key) if key != '' else ''}"
    return tag(
        "div",
        tag("label", label, for_=field_id),
        tag(
            "input",
            type="text",
            name=name,
            id=field_id,
            required=required,
            maxlength="2000",
            placeholder=placeholder or None,
            autocomplete="off",
        ),
    )


def select(
    name: str, label: str, options: Sequence[tuple[str, str]], selected: str = "", *, key: object = ""
) -> Html:
    field_id = f"f-{name}{'-' + str(key) if key != '' else ''}"
    return tag(
        "div",
        tag("label", label, for_=field_id),
        tag(
            "select",
            [tag("option", text, value=value, selected=value == selected) for value, text in options],
            name=name,
            id=field_id,
        ),
    )


def _value(v: Any) -> str:
    if v is None:
        return "(unset)"
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def diff(changes: Sequence[Mapping[str, Any]]) -> Html:
    """Changed fields as a diff: `- path: before` / `+ path: after`."""
    lines: list[Html] = []
    for c in changes:
        path = str(c.get("path", ""))
        lines.append(tag("span", f"- {path}: {_value(c.get('before'))}", class_="del"))
        lines.append(tag("span", f"+ {path}: {_value(c.get('after'))}", class_="add"))
    return tag("pre", join(lines, "\n"), class_="diff")


def pager(base: str, params: Mapping[str, str], cursor: str | None) -> Html:
    if cursor is None:
        return esc("")
    query = urlencode({**{k: v for k, v in params.items() if v}, "cursor": cursor})
    return tag("div", tag("span", ""), tag("a", "Older →", href=f"{base}?{query}"), class_="pager")


def read_only_note(actor: Actor) -> Html:
    if actor.can_act:
        return esc("")
    return tag("p", "Read-only token: log in with an admin token to change anything.", class_="muted")


def where(labels: Mapping[str, Any]) -> str:
    parts = [labels.get("namespace"), labels.get("deployment") or labels.get("service") or labels.get("pod")]
    return "/".join(str(p) for p in parts if p)


def incident_href(incident_id: object) -> str:
    return "/ui/incidents/" + quote(str(incident_id), safe="")


def incident_title(i: Mapping[str, Any]) -> str:
    place = where(i.get("labels") or {})
    return f"{i.get('alertname') or 'alert'}" + (f" on {place}" if place else "")


# -- now ------------------------------------------------------------------------------------------------


def mode_banner(mode: ModeView, now: datetime) -> Html:
    if mode.paused is not None:
        p = mode.paused
        until = [" until ", when(p.until.isoformat(), now)] if p.until else [" until resumed"]
        return tag(
            "div",
            tag("strong", "PAUSED: nothing acts"),
            f"by {p.by}",
            until,
            f": {p.reason}",
            class_="banner bad",
        )
    if mode.overall == "dry-run":
        return tag(
            "div",
            tag("strong", "DRY-RUN: decisions are recorded, nothing changes"),
            mode.dry_run_reason or "",
            class_="banner info",
        )
    return tag("div", tag("strong", "RUNNING: remediator acts on alerts"), class_="banner ok")


def rule_modes(mode: ModeView, now: datetime) -> Html:
    items = [
        tag(
            "li",
            tag("span", name, class_="title"),
            " paused by ",
            p.by,
            ": ",
            p.reason,
            [" (until ", when(p.until.isoformat(), now), ")"] if p.until else "",
        )
        for name, p in sorted(mode.paused_rules.items())
    ]
    items += [tag("li", tag("span", name, class_="title"), " in dry-run") for name in mode.dry_run_rules]
    return tag("ul", items, class_="list card") if items else esc("")


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


# -- approvals ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PendingApproval:
    approval: Mapping[str, Any]
    preview: Preview
    description: str
    incident: str | None
    alert_summary: str


def approval_card(p: PendingApproval, actor: Actor, now: datetime) -> Html:
    a = p.approval
    what = " + ".join(s.kind for s in p.preview.actions) or "+".join(a.get("actions") or [])
    target = p.preview.target or a["target"]
    name = target.rsplit("/", 1)[-1]
    if p.preview.status == "planned" and p.preview.changes:
        change: object = [
            tag("p", p.preview.summary),
            diff([{"path": c.path, "before": c.before, "after": c.after} for c in p.preview.changes]),
        ]
    elif p.preview.status == "planned":
        change = tag("p", p.preview.summary or "Nothing would change.", class_="muted")
    else:
        change = tag(
            "p",
            f"Cannot show the change ({p.preview.status}): {p.preview.error or p.preview.summary}",
            class_="banner warn",
        )
    forms: object = read_only_note(actor)
    if actor.can_act:
        forms = [
            form(
                f"/ui/approvals/{a['id']}/approve",
                actor,
                text_field("reason", "Reason (optional)", key=f"approve-{a['id']}"),
                button=f"Approve: {what} {name}",
            ),
            form(
                f"/ui/approvals/{a['id']}/reject",
                actor,
                text_field("reason", "Reason (required to reject)", required=True, key=f"reject-{a['id']}"),
                button="Reject",
                style="danger",
            ),
        ]
    incident = tag("a", "the incident", href=incident_href(p.incident)) if p.incident else esc("the alert")
    return tag(
        "div",
        tag("div", f"{a['rule']} → {target}", class_="title"),
        tag(
            "div",
            f"approval #{a['id']} · requested ",
            when(a.get("created_at"), now),
            " · expires ",
            when(a.get("expires_at"), now),
            class_="meta",
        ),
        tag("p", p.description) if p.description else "",
        tag("p", "Alert: ", p.alert_summary or "—", " (", incident, ")"),
        tag("h3", "What would change"),
        change,
        forms,
        class_="card",
        id=f"approval-{a['id']}",
    )


def approvals_page(
    pending: Sequence[PendingApproval], decided: Sequence[Mapping[str, Any]], actor: Actor, now: datetime
) -> Html:
    parts: list[object] = []
    if pending:
        parts += [approval_card(p, actor, now) for p in pending]
    else:
        parts.append(tag("p", "Nothing waits for a human.", class_="card"))
    if decided:
        rows = [
            tag(
                "li",
                tag(
                    "div", badge(a["status"]), " ", f"#{a['id']} {a['rule']} → {a['target']}", class_="title"
                ),
                tag(
                    "div",
                    f"by {a['decided_by']} " if a.get("decided_by") else "",
                    when(a.get("decided_at") or a.get("expires_at"), now),
                    f": {a['note']}" if a.get("note") else "",
                    class_="meta",
                ),
            )
            for a in decided
        ]
        parts += [tag("h2", "Decided"), tag("ul", rows, class_="list card")]
    return join(parts)


# -- decisions ------------------------------------------------------------------------------------------


def decisions_page(
    decisions: Sequence[Mapping[str, Any]],
    *,
    rules: Sequence[str],
    outcomes: Sequence[str],
    chosen: Mapping[str, str],
    next_cursor: str | None,
    now: datetime,
) -> Html:
    filters = tag(
        "form",
        select("rule", "Rule", [("", "any"), *((r, r) for r in rules)], chosen.get("rule", "")),
        select("outcome", "Outcome", [("", "any"), *((o, o) for o in outcomes)], chosen.get("outcome", "")),
        tag(
            "div",
            tag("label", "Target (ns/name or ns/Kind/name)", for_="f-target"),
            tag(
                "input",
                type="text",
                name="target",
                id="f-target",
                value=chosen.get("target", ""),
                maxlength="300",
                autocomplete="off",
            ),
        ),
        tag("div", tag("button", "Filter", type="submit")),
        method="get",
        action="/ui/decisions",
        class_="filters card",
    )
    rows = []
    for d in decisions:
        execution = d.get("execution")
        rows.append(
            tag(
                "li",
                tag(
                    "div",
                    badge(d["outcome"]),
                    " ",
                    d["rule"],
                    " → ",
                    d.get("target") or "no target",
                    class_="title",
                ),
                tag("div", d.get("reason") or "", class_="meta"),
                tag(
                    "div",
                    when(d.get("decided_at"), now),
                    [" · execution #", str(execution["id"]), " ", badge(execution["status"])]
                    if execution
                    else "",
                    [" · ", tag("a", d.get("alertname") or "incident", href=incident_href(d["incident"]))]
                    if d.get("incident")
                    else "",
                    class_="meta",
                ),
            )
        )
    listing = tag("ul", rows, class_="list card") if rows else tag("p", "No decisions match.", class_="card")
    return join([filters, listing, pager("/ui/decisions", chosen, next_cursor)])


# -- controls -------------------------------------------------------------------------------------------


def controls_page(*, mode: ModeView, rules: Sequence[str], actor: Actor, now: datetime) -> Html:
    scope = [("", "everything"), *((r, f"rule {r}") for r in rules)]
    parts: list[object] = [mode_banner(mode, now), rule_modes(mode, now), read_only_note(actor)]
    if not actor.can_act:
        return join(parts)
    paused = [("", "everything")] if mode.paused else []
    paused += [(r, f"rule {r}") for r in sorted(mode.paused_rules)]
    parts += [
        tag("h2", "Pause"),
        tag(
            "div",
            tag("p", "Paused rules decide and record, and act on nothing.", class_="muted"),
            form(
                "/ui/pause",
                actor,
                select("rule", "What", scope, key="pause"),
                select("for", "For", PAUSE_CHOICES, "1h", key="pause"),
                text_field(
                    "reason", "Reason", required=True, key="pause", placeholder="e.g. database migration"
                ),
                button="Pause",
                style="danger",
            ),
            class_="card",
        ),
    ]
    if paused:
        parts += [
            tag("h2", "Resume"),
            tag(
                "div",
                form(
                    "/ui/resume",
                    actor,
                    select("rule", "What", paused, key="resume"),
                    text_field("reason", "Reason", required=True, key="resume"),
                    button="Resume",
                ),
                class_="card",
            ),
        ]
    parts += [
        tag("h2", "Dry-run"),
        tag(
            "div",
            tag("p", "In dry-run, decisions record the plan (the diff) and change nothing.", class_="muted"),
            form(
                "/ui/dry-run",
                actor,
                select("rule", "What", scope, key="dry"),
                select("enabled", "Dry-run", (("on", "on"), ("off", "off")), key="dry"),
                text_field("reason", "Reason", required=True, key="dry"),
                button="Set dry-run",
            ),
            class_="card",
        ),
    ]
    return join(parts)


# -- audit ----------------------------------------------------------------------------------------------


def audit_page(entries: Sequence[Mapping[str, Any]], *, next_cursor: str | None, now: datetime) -> Html:
    rows = []
    for e in entries:
        detail = dict(e.get("detail") or {})
        reason = detail.pop("reason", "")
        facts = [f"{k}={_value(v)}" for k, v in sorted(detail.items()) if v not in (None, "", [], {})]
        rows.append(
            tag(
                "li",
                tag(
                    "div",
                    badge(e["action"]),
                    " by ",
                    tag("span", e["actor"], class_="title"),
                    " ",
                    when(e.get("at"), now),
                ),
                tag("div", f"“{reason}”", class_="meta") if reason else "",
                tag("div", ", ".join(facts), class_="meta") if facts else "",
            )
        )
    listing = (
        tag("ul", rows, class_="list card") if rows else tag("p", "No changes by humans yet.", class_="card")
    )
    return join([listing, pager("/ui/audit", {}, next_cursor)])


# -- login ----------------------------------------------------------------------------------------------


def login_page(*, csrf: str, next_path: str, error: str, token_sources: Sequence[str]) -> Html:
    sources = (
        tag(
            "p",
            "Tokens come from auth.api_tokens in the config: ",
            ", ".join(token_sources),
            ".",
            class_="muted",
        )
        if token_sources
        else tag(
            "p",
            "No API token is configured: set REMEDIATOR_ADMIN_TOKEN (or auth.api_tokens) and restart.",
            class_="banner warn",
        )
    )
    return join(
        [
            tag("p", error, class_="banner bad", role="alert") if error else "",
            tag(
                "form",
                hidden("csrf", csrf),
                hidden("next", next_path),
                tag(
                    "div",
                    tag("label", "API token", for_="f-token"),
                    tag(
                        "input",
                        type="password",
                        name="token",
                        id="f-token",
                        required=True,
                        autocomplete="current-password",
                        maxlength="4096",
                        autofocus=True,
                    ),
                ),
                tag("div", tag("button", "Log in", type="submit", class_="primary"), class_="buttons"),
                method="post",
                action="/ui/login",
                class_="act card",
            ),
            sources,
        ]
    )


def error_body(message: str, *, back: str = "/ui/") -> Html:
    return join([tag("p", message, class_="banner bad", role="alert"), tag("p", tag("a", "Back", href=back))])
