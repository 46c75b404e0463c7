"""The console's history pages: decisions (filterable by rule and outcome) and the audit trail of
what humans did, newest first with a pager.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from remediator.api.console.html import Html, join, tag
from remediator.api.console.layout import badge, when
from remediator.api.console.views import (
    incident_href,
    pager,
    select,
    value_text,
)

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


# -- audit ----------------------------------------------------------------------------------------------


def audit_page(entries: Sequence[Mapping[str, Any]], *, next_cursor: str | None, now: datetime) -> Html:
    rows = []
    for e in entries:
        detail = dict(e.get("detail") or {})
        reason = detail.pop("reason", "")
        facts = [f"{k}={value_text(v)}" for k, v in sorted(detail.items()) if v not in (None, "", [], {})]
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
