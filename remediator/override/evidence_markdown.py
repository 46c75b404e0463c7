"""The postmortem's Evidence section: what the cluster showed before and after each action, as Markdown.

Everything here came from the cluster or an alert (pod names, event messages, log lines): it is
text an attacker may have shaped. Table cells and prose go through the postmortem's own escaper
(no HTML, no links, no table breaks, one line), and log lines go in code fences longer than any
backtick run they contain, so a line cannot close its fence and inject Markdown. The evidence was
bounded and redacted by pattern when captured (actions/redact.py); the section says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Escape = Callable[[Any], str]
"""The postmortem's inline escaper (incidents.py `_md`): a value renders as itself, on one line."""


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


def evidence_section(events: list[dict[str, Any]], *, time: Callable[[str], str], md: Escape) -> list[str]:
    """`## Evidence`: one subsection per capture, in time order. `time` formats an event's time, `md`
    escapes any text that came from the cluster or an alert."""
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
        lines += [f"### {time(e['at'])} UTC: {md(e['moment'])} ({md(e['target'])}{execution})", ""]
        rollout = ev.get("rollout") or {}
        if rollout:
            state = "complete" if rollout.get("complete") else "not complete"
            lines += [f"Rollout {state}: {md(rollout.get('detail'))}", ""]
        lines += _pods(ev.get("pods") or [], md)
        lines += _events(ev.get("events") or [], md)
        lines += _logs(ev.get("logs") or [], md)
        lines += _history(ev.get("history") or [], md)
        for note in ev.get("notes") or []:
            lines.append(f"- note: {md(note)}")
        if ev.get("notes"):
            lines.append("")
    return lines


def _pods(pods: list[dict[str, Any]], md: Escape) -> list[str]:
    if not pods:
        return ["Pods: none found.", ""]
    lines = ["| pod | phase | ready | restarts | waiting | last terminated |", "|---|---|---|---|---|---|"]
    for p in pods:
        lines.append(
            f"| {md(p.get('name'))} | {md(p.get('phase'))} | {'yes' if p.get('ready') else 'no'} "
            f"| {int(p.get('restarts') or 0)} | {md(', '.join(p.get('waiting') or []))} "
            f"| {md(', '.join(p.get('last_terminated') or []))} |"
        )
    return [*lines, ""]


def _events(events: list[dict[str, Any]], md: Escape) -> list[str]:
    if not events:
        return []
    lines = ["| last seen | object | type | reason | count | message |", "|---|---|---|---|---|---|"]
    for ev in events:
        lines.append(
            f"| {md(ev.get('last'))} | {md(ev.get('object'))} | {md(ev.get('type'))} "
            f"| {md(ev.get('reason'))} | {int(ev.get('count') or 1)} | {md(ev.get('message'))} |"
        )
    return [*lines, ""]


def _logs(logs: list[dict[str, Any]], md: Escape) -> list[str]:
    lines: list[str] = []
    for log in logs:
        which = " (previous container, before its last restart)" if log.get("previous") else ""
        lines += [
            f"Last {len(log.get('lines') or [])} log lines of {md(log.get('pod'))}/"
            f"{md(log.get('container'))}{which}:",
            "",
        ]
        lines += [*fenced([str(line) for line in log.get("lines") or []]), ""]
    return lines


def _history(history: list[dict[str, Any]], md: Escape) -> list[str]:
    if not history:
        return []
    lines = ["| revision | images | created | replicas |", "|---|---|---|---|"]
    for rs in history:
        lines.append(
            f"| {int(rs.get('revision') or 0)} | {md(', '.join(rs.get('images') or []))} "
            f"| {md(rs.get('created'))} | {int(rs.get('replicas') or 0)} |"
        )
    return [*lines, ""]
