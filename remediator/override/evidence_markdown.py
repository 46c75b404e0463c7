"""The postmortem's Evidence section: what the cluster showed before and after each action, as Markdown.

Everything here came from the cluster or an alert (pod names, event messages, log lines): it is
text an attacker may have shaped. Table cells and prose are escaped (`md_text`: no HTML, no links,
no table breaks), and log lines go in code fences longer than any backtick run they contain, so a
line cannot close its fence and inject Markdown. The evidence was bounded and redacted by pattern
when captured (actions/redact.py); the section says so.
"""

from __future__ import annotations

import re
from typing import Any

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "[": "\\[",
        "]": "\\]",
        "<": "&lt;",
        "&": "&amp;",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "\r": " ",
        "\n": " ",
    }
)


def md_text(value: Any) -> str:
    """One line of inert Markdown: escaped so it renders as the text it is, inside a table cell too."""
    return ("" if value is None else str(value)).translate(_ESCAPES).strip()


def fenced(lines: list[str]) -> list[str]:
    """A code block no line can break out of: the fence is longer than the longest backtick run."""
    longest = max((len(m.group(0)) for line in lines for m in re.finditer(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *lines, fence]


def evidence_summary(evidence: dict[str, Any]) -> str:
    """One line for the timeline: `3 pods (1 not ready, 7 restarts), 4 events, 1 log`."""
    pods = evidence.get("pods") or []
    unready = sum(1 for p in pods if not p.get("ready"))
    restarts = sum(int(p.get("restarts") or 0) for p in pods)
    parts = [f"{len(pods)} pods ({unready} not ready, {restarts} restarts)"]
    parts.append(f"{len(evidence.get('events') or [])} events")
    logs = len(evidence.get("logs") or [])
    parts.append(f"{logs} log{'s' if logs != 1 else ''}")
    if evidence.get("history"):
        parts.append(f"{len(evidence['history'])} revisions")
    return ", ".join(parts)


def evidence_section(events: list[dict[str, Any]], *, time: Any) -> list[str]:
    """`## Evidence`: one subsection per capture, in time order. `time` formats an event's time."""
    captured = [e for e in events if e["type"] == "evidence"]
    lines = ["## Evidence", ""]
    if not captured:
        return [*lines, "No evidence was captured (remediator did not act on the cluster).", ""]
    lines += [
        "Captured by remediator from the cluster, bounded and with credential-looking values redacted "
        "by pattern (check before sharing).",
        "",
    ]
    for e in captured:
        ev: dict[str, Any] = e.get("evidence") or {}
        execution = f", execution #{e['execution_id']}" if e.get("execution_id") is not None else ""
        lines += [f"### {time(e['at'])} UTC: {md_text(e['moment'])} ({md_text(e['target'])}{execution})", ""]
        rollout = ev.get("rollout") or {}
        if rollout:
            state = "complete" if rollout.get("complete") else "not complete"
            lines += [f"Rollout {state}: {md_text(rollout.get('detail'))}", ""]
        lines += _pods(ev.get("pods") or [])
        lines += _events(ev.get("events") or [])
        lines += _logs(ev.get("logs") or [])
        lines += _history(ev.get("history") or [])
        for note in ev.get("notes") or []:
            lines.append(f"- note: {md_text(note)}")
        if ev.get("notes"):
            lines.append("")
    return lines


def _pods(pods: list[dict[str, Any]]) -> list[str]:
    if not pods:
        return ["Pods: none found.", ""]
    lines = ["| pod | phase | ready | restarts | waiting | last terminated |", "|---|---|---|---|---|---|"]
    for p in pods:
        lines.append(
            f"| {md_text(p.get('name'))} | {md_text(p.get('phase'))} | {'yes' if p.get('ready') else 'no'} "
            f"| {int(p.get('restarts') or 0)} | {md_text(', '.join(p.get('waiting') or []))} "
            f"| {md_text(', '.join(p.get('last_terminated') or []))} |"
        )
    return [*lines, ""]


def _events(events: list[dict[str, Any]]) -> list[str]:
    if not events:
        return []
    lines = ["| last seen | object | type | reason | count | message |", "|---|---|---|---|---|---|"]
    for ev in events:
        lines.append(
            f"| {md_text(ev.get('last'))} | {md_text(ev.get('object'))} | {md_text(ev.get('type'))} "
            f"| {md_text(ev.get('reason'))} | {int(ev.get('count') or 1)} | {md_text(ev.get('message'))} |"
        )
    return [*lines, ""]


def _logs(logs: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for log in logs:
        which = " (previous container, before its last restart)" if log.get("previous") else ""
        lines += [
            f"Last {len(log.get('lines') or [])} log lines of {md_text(log.get('pod'))}/"
            f"{md_text(log.get('container'))}{which}:",
            "",
        ]
        lines += [*fenced([str(line) for line in log.get("lines") or []]), ""]
    return lines


def _history(history: list[dict[str, Any]]) -> list[str]:
    if not history:
        return []
    lines = ["| revision | images | created | replicas |", "|---|---|---|---|"]
    for rs in history:
        lines.append(
            f"| {int(rs.get('revision') or 0)} | {md_text(', '.join(rs.get('images') or []))} "
            f"| {md_text(rs.get('created'))} | {int(rs.get('replicas') or 0)} |"
        )
    return [*lines, ""]
