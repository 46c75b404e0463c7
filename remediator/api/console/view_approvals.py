"""The console's approvals page: each pending approval as a card with what it would change (planned
against the cluster) and, for an admin, the forms to approve or reject it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediator.api.console.html import Html, esc, join, tag
from remediator.api.console.layout import badge, when
from remediator.api.console.views import (
    Actor,
    diff,
    form,
    incident_href,
    read_only_note,
    text_field,
)
from remediator.override import Preview

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
            diff(
                [(c.path, c.before, c.after) for c in p.preview.changes],
                target_key=target,
                applied=False,
            ),
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
