"""The incident page: what fired, what remediator decided and why, what it changed (the diff), what
it verified, whom it paged, and the postmortem draft; the same read model as
`GET /api/v1/incidents/{id}/timeline`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from remediator.api.console.html import Html, esc, join, link_or_text, tag
from remediator.api.console.layout import badge, parse_time, span, utc, when
from remediator.api.console.views import diff


def _offset(at: str | None, start: datetime | None) -> str:
    t = parse_time(at)
    if t is None or start is None:
        return ""
    seconds = (t - start).total_seconds()
    return ("+" if seconds >= 0 else "-") + span(abs(seconds))


def _collapse(events: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int]]:
    """Alertmanager re-sends a firing alert on every repeat interval: one row for a run, counted."""
    out: list[tuple[Mapping[str, Any], int]] = []
    for e in events:
        if (
            out
            and e["type"] == "alert"
            and out[-1][0]["type"] == "alert"
            and out[-1][0]["status"] == e["status"]
        ):
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((e, 1))
    return out


def _event(e: Mapping[str, Any], count: int) -> Html:
    kind = e["type"]
    if kind == "alert":
        times = f" (received {count} times)" if count > 1 else ""
        value = f" · value {e['value']}" if e.get("value") else ""
        return join(
            [
                tag("div", "Alert ", badge(e["status"]), times, class_="title"),
                tag("div", (e.get("summary") or "") + value, class_="meta"),
            ]
        )
    if kind == "decision":
        target = e.get("target") or "no target"
        return join(
            [
                tag(
                    "div",
                    "Decided ",
                    badge(e["outcome"]),
                    " ",
                    e["rule"],
                    " → ",
                    target,
                    " (dry-run)" if e.get("dry_run") else "",
                    class_="title",
                ),
                tag("div", e.get("reason") or "", class_="meta"),
            ]
        )
    if kind == "execution":
        who = f" by {e['who']}" if e.get("who") and e["who"] != "remediator" else ""
        detail = e.get("error") if e["status"] in ("failed", "interrupted") else e.get("summary")
        return join(
            [
                tag(
                    "div",
                    f"Execution #{e['execution_id']}{who} ",
                    badge(e["status"]),
                    " ",
                    "+".join(e.get("actions") or []),
                    " on ",
                    e.get("target") or "",
                    " (dry-run)" if e.get("dry_run") else "",
                    class_="title",
                ),
                tag("div", detail or "", class_="meta") if detail else "",
                tag("div", f"{e.get('attempts', 0)} attempt(s)", class_="meta")
                if e.get("attempts", 0) > 1
                else "",
                diff(
                    ((str(c.get("path", "")), c.get("before"), c.get("after")) for c in e["changes"]),
                    target_key=str(e.get("target") or ""),
                    applied=not e.get("dry_run"),
                )
                if e.get("changes")
                else "",
            ]
        )
    if kind == "escalation":
        return join(
            [
                tag(
                    "div",
                    "Escalated to ",
                    e.get("dest") or "?",
                    f" ({e.get('kind')}) ",
                    badge(e.get("status")),
                    class_="title",
                ),
                tag("div", e.get("summary") or "", class_="meta"),
                tag("div", e.get("error") or "", class_="meta") if e.get("error") else "",
            ]
        )
    return esc(str(e.get("type")))


def incident_page(
    timeline: Mapping[str, Any],
    *,
    postmortem: str,
    pending: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Html:
    labels: Mapping[str, Any] = timeline.get("labels") or {}
    notes: Mapping[str, Any] = timeline.get("annotations") or {}
    start = parse_time(timeline.get("starts_at"))
    duration = timeline.get("duration_s")
    state = tag(
        "div",
        badge(timeline.get("status")),
        " ",
        badge(timeline.get("severity") or labels.get("severity")),
        " started ",
        when(timeline.get("starts_at"), now),
        f" · {'firing for' if timeline.get('ongoing') else 'lasted'} {span(duration)}"
        if duration is not None
        else "",
        f" · {timeline.get('alerts', 0)} alert(s) from {timeline.get('source', '?')}",
        class_="meta",
    )
    summary = notes.get("summary") or notes.get("description")
    links = []
    if notes.get("runbook_url"):
        links.append(tag("li", "Runbook: ", link_or_text(notes["runbook_url"])))
    generator = timeline.get("generator_url")
    if generator:
        links.append(tag("li", "Source: ", link_or_text(generator, "graph")))
    waiting = [
        tag(
            "p",
            "Waiting for approval: ",
            tag("a", f"{a['rule']} → {a['target']}", href=f"/ui/approvals#approval-{a['id']}"),
            class_="banner warn",
        )
        for a in pending
    ]
    did = timeline.get("actions_taken") or []
    events = [
        tag(
            "li",
            tag(
                "time",
                _offset(e.get("at"), start),
                " ",
                utc(e.get("at"))[11:19],
                datetime=e.get("at") or None,
                title=utc(e.get("at")),
            ),
            _event(e, count),
            class_=f"k-{e['type']}",
        )
        for e, count in _collapse(timeline.get("events", []))
    ]
    evidence = tag(
        "details",
        tag("summary", "Evidence: labels and annotations"),
        tag("dl", [[tag("dt", k), tag("dd", v)] for k, v in sorted(labels.items())], class_="kv"),
        tag(
            "dl",
            [
                [tag("dt", k), tag("dd", link_or_text(v) if k.endswith("_url") else v)]
                for k, v in sorted(notes.items())
            ],
            class_="kv",
        ),
    )
    incident_id = str(timeline.get("id", ""))
    return join(
        [
            state,
            tag("p", summary, class_="card") if summary else "",
            waiting,
            tag("h2", "What remediator did"),
            tag("ul", [tag("li", line) for line in did], class_="list card")
            if did
            else tag("p", "Nothing acted on this incident.", class_="card muted"),
            tag("ul", links, class_="list card") if links else "",
            tag("div", evidence, class_="card"),
            tag("h2", "Timeline"),
            tag("ol", events, class_="timeline card"),
            tag("h2", "Postmortem draft"),
            tag(
                "details",
                tag("summary", "Markdown, in the runbooks' template"),
                tag("pre", postmortem),
                tag(
                    "p",
                    tag(
                        "a",
                        "Download postmortem.md",
                        href=f"/ui/incidents/{quote(incident_id, safe='')}/postmortem.md",
                    ),
                ),
                class_="card",
            ),
            tag("p", "Facts only: root cause and action items are for the humans.", class_="meta"),
        ]
    )
