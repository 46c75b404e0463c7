"""Incidents for humans: an alert episode's timeline, and a postmortem draft from it.

An incident is one alert episode, `(fingerprint, startsAt)`, as the journal grouped it (the
read model's `incident_timeline`: alerts, decisions, executions, escalations in time order).
Here it gets what a reader wants first (title, duration, what remediator did), and
`postmortem_markdown` fills the runbooks' postmortem template with the facts the journal knows:
title, date, duration, severity, summary, timeline, impact. Root cause and action items are left
for the humans: a machine that guessed them would be worse than a blank.

Labels and annotations are input (anyone who can send an alert writes them), so every value goes
into the draft through `_md` (or `_code`): one line, Markdown's structural characters escaped, raw
HTML neutralised. A label cannot add a heading, a link, an image or a `<script>` to the draft.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from remediator.durations import format_duration
from remediator.override.evidence_markdown import evidence_section, evidence_summary


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def with_durations(timeline: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Add title, duration and a one-line account of the actions to a timeline (a copy)."""
    out = dict(timeline)
    start = _at(out.get("starts_at"))
    end = _at(out.get("ends_at")) if out.get("status") == "resolved" else None
    if start is not None:
        out["duration_s"] = max(0.0, ((end or now) - start).total_seconds())
    out["ongoing"] = end is None
    labels = out.get("labels") or {}
    where = "/".join(
        v for v in (labels.get("namespace"), labels.get("deployment") or labels.get("service")) if v
    )
    out["title"] = f"{out.get('alertname') or 'alert'}" + (f" on {where}" if where else "")
    events = out.get("events", [])
    out["actions_taken"] = [
        f"{e['rule']}: {'+'.join(e['actions'])} on {e['target']} -> {e['status']}"
        + (" (dry-run)" if e["dry_run"] else "")
        for e in events
        if e["type"] == "execution"
    ]
    return out


_MD_SPECIAL = re.compile(r"([\\`*\[\]|~#])")
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
"""An underscore inside a word never starts emphasis (`rollout_restart` stays readable); at a word's
edge it could, so it is escaped."""


def _md(text: Any) -> str:
    """Any value as inline Markdown text that renders as itself: one line (no new heading, list or
    table row), Markdown's special characters escaped, `<` as an entity (no raw HTML, no autolink)."""
    s = "" if text is None else str(text)
    s = " ".join(s.split())
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = _EDGE_UNDERSCORE.sub(r"\\_", s)
    s = s.replace("&", "&amp;").replace("<", "&lt;")
    # Where a value starts a line, it cannot start a list, a quote or a setext underline.
    if s[:1] in ("-", "+", "=", ">"):
        s = "\\" + s
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", s)


_cell = _md
"""Markdown table cells: `_md` escapes pipes and keeps the cell on one line."""


def _code(text: Any) -> str:
    """A code span that holds any value: a fence longer than its longest run of backticks."""
    s = " ".join(("" if text is None else str(text)).split())
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    return f"{fence} {s} {fence}" if run else f"{fence}{s}{fence}"


def _time(at: str | None) -> str:
    dt = _at(at)
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else ""


def _event_line(e: dict[str, Any]) -> str:
    kind = e["type"]
    if kind == "alert":
        value = f" (value {e['value']})" if e.get("value") else ""
        summary = f": {e['summary']}" if e.get("summary") else ""
        return f"Alert {e['status']}{value}{summary}"
    if kind == "decision":
        target = f" for {e['target']}" if e.get("target") else ""
        return f"Rule {e['rule']} decided `{e['outcome']}`{target}: {e['reason']}"
    if kind == "execution":
        mode = " (dry-run)" if e["dry_run"] else ""
        what = e.get("summary") or e.get("error") or ""
        who = f" by {e['who']}" if e.get("who") and e["who"] != "remediator" else ""
        return (
            f"Execution #{e['execution_id']}{who}: {'+'.join(e['actions'])} on {e['target']}{mode} "
            f"-> {e['status']}" + (f": {what}" if what else "")
        )
    if kind == "evidence":
        execution = f" (execution #{e['execution_id']})" if e.get("execution_id") is not None else ""
        return f"Evidence {e['moment']}{execution}: {evidence_summary(e.get('evidence') or {})}"
    if kind == "escalation":
        return f"Escalation ({e['kind']}) to {e['dest']} -> {e['status']}" + (
            f": {e['summary']}" if e.get("summary") else ""
        )
    return str(e)


def _collapse(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Alertmanager re-sends a firing alert on every repeat interval: show a run of them once, counted."""
    out: list[tuple[dict[str, Any], int]] = []
    for e in events:
        prev = out[-1][0] if out else None
        if (
            prev is not None
            and e["type"] == "alert"
            and prev["type"] == "alert"
            and prev["status"] == e["status"]
        ):
            out[-1] = (prev, out[-1][1] + 1)
        else:
            out.append((e, 1))
    return out


def postmortem_markdown(timeline: dict[str, Any]) -> str:
    """A postmortem draft in the runbooks' template, from a timeline given by `with_durations`."""
    labels: dict[str, str] = timeline.get("labels") or {}
    annotations: dict[str, str] = timeline.get("annotations") or {}
    start = _at(timeline.get("starts_at"))
    duration = timeline.get("duration_s")
    ongoing = timeline.get("ongoing", True)
    severity = timeline.get("severity") or labels.get("severity") or "unknown"
    events = timeline.get("events", [])
    executions = [e for e in events if e["type"] == "execution"]
    decisions = [e for e in events if e["type"] == "decision"]
    escalations = [e for e in events if e["type"] == "escalation"]
    lines = [
        f"# Postmortem: {_md(timeline.get('title', 'incident'))}",
        "",
        f"- **Date:** {start.strftime('%Y-%m-%d') if start else 'unknown'}",
        f"- **Duration:** {format_duration(duration) if duration is not None else 'unknown'}"
        + (" (ongoing)" if ongoing else ""),
        f"- **Severity:** {_md(severity)}",
        f"- **Status:** {_md(timeline.get('status', 'unknown'))}",
        f"- **Started:** {_time(timeline.get('starts_at'))} UTC"
        + (f"; resolved {_time(timeline.get('ends_at'))} UTC" if not ongoing else ""),
        f"- **Incident:** {_code(timeline.get('id', ''))}"
        f" (fingerprint {_code(timeline.get('fingerprint', ''))})",
        "",
        "## Summary",
        "",
    ]
    summary = annotations.get("summary") or annotations.get("description")
    lines.append(
        f"Alert {_md(timeline.get('alertname') or 'unnamed')} fired"
        + (f" ({_md(summary)})" if summary else "")
        + f" with labels {', '.join(f'{_md(k)}={_md(v)}' for k, v in sorted(labels.items()))}."
    )
    if executions:
        lines.append("")
        lines.append("remediator acted:")
        lines.extend(f"- {_cell(a)}" for a in timeline.get("actions_taken", []))
    elif decisions:
        outcomes = sorted({d["outcome"] for d in decisions})
        lines.append("")
        lines.append(f"remediator took no action (decisions: {_md(', '.join(outcomes))}).")
    else:
        lines.append("")
        lines.append("No rule matched: remediator took no action.")
    if escalations:
        lines.append(f"It escalated to a human {len(escalations)} time(s).")
    lines += ["", "## Timeline", "", "| time (UTC) | event |", "|---|---|"]
    for e, count in _collapse(events):
        text = _event_line(e) + (f" (received {count} times)" if count > 1 else "")
        lines.append(f"| {_time(e['at'])} | {_cell(text)} |")
    lines += ["", *evidence_section(events, time=_time, md=_md)]
    lines += [
        "",
        "## Impact",
        "",
        "<!-- Who and what was affected, and for how long. Known from the alert: -->",
        f"- Affected: {_cell(labels.get('namespace', '?'))}/"
        f"{_cell(labels.get('deployment') or labels.get('service') or '?')}",
        f"- Alerting for: {format_duration(duration) if duration is not None else 'unknown'}",
        "",
        "## Root cause",
        "",
        "<!-- To be written by the humans who investigated. -->",
        "",
        "## Action items",
        "",
        "| action | owner | due |",
        "|---|---|---|",
        "|  |  |  |",
        "",
    ]
    return "\n".join(lines)
