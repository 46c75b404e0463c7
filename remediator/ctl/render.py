"""What `remediator ctl` prints: tables and fields for a human, or the API's own answer as JSON or YAML.

The table renderers read the answers as the API's models (api/models.py), so a field renamed there
is a type error here, not a blank column at 3 a.m.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import yaml

from remediator import yamldiff
from remediator.api import models as m

Output = Literal["table", "json", "yaml"]
OUTPUTS: tuple[Output, ...] = ("table", "json", "yaml")
_WIDTH = 60


def as_data(data: Any, output: Output) -> str:
    """The API's answer as it came (JSON), or the same as YAML; sorted keys, so diffs stay small."""
    if output == "yaml":
        return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False).rstrip("\n")
    return json.dumps(data, indent=2, sort_keys=True)


def _short(value: Any, width: int = _WIDTH) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _tail(text: str, width: int = _WIDTH) -> str:
    """Paths keep their end (the file and line), not their start."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], *, empty: str = "none") -> str:
    if not rows:
        return empty
    cells = [[_short(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {'' if v is None else v}" for k, v in pairs)


def pause_text(p: m.Pause | None) -> str:
    if p is None:
        return "-"
    until = f" until {p.until}" if p.until else ""
    return f"by {p.by}{until}: {p.reason}"


def _time(at: str | None) -> str:
    return (at or "")[:19].replace("T", " ")


def _more(next_cursor: str | None) -> str:
    return f"\nmore: --cursor {next_cursor}" if next_cursor else ""


def status(s: m.Status) -> str:
    rules, journal, kube, dry, brk = s.rules, s.journal, s.kubernetes, s.dry_run, s.breakers
    last = rules.last_reload
    reload = f"; last reload {last['result']} by {last['by']} at {_time(last['at'])}" if last else ""
    paused_rules = ", ".join(f"{name} ({pause_text(p)})" for name, p in s.paused_rules.items()) or "-"
    mode = s.mode + (f" ({pause_text(s.paused)})" if s.paused else "")
    if dry.reason and s.mode == "dry-run":
        mode += f" ({dry.reason})"
    return fields(
        [
            ("mode", mode),
            ("paused rules", paused_rules),
            ("dry-run rules", ", ".join(dry.rules) or "-"),
            ("rules", f"{rules.loaded} loaded ({rules.enabled} enabled){reload}"),
            ("breakers", f"{brk.open} open, {brk.half_open} half-open"),
            (
                "journal",
                f"{'healthy' if journal.healthy else 'UNHEALTHY'}, backlog {journal.backlog}"
                + (f" ({journal.error})" if journal.error else ""),
            ),
            ("kubernetes", "connected" if kube.connected else f"not connected: {kube.dry_run_reason or '?'}"),
        ]
    )


def executions(page: m.ExecutionPage) -> str:
    rows = [
        (
            e.id,
            _time(e.created_at),
            e.rule,
            e.target,
            "+".join(e.actions),
            e.status.value + (" (dry-run)" if e.dry_run else ""),
            e.who,
            e.decision.reason,
        )
        for e in page.executions
    ]
    out = table(
        rows, ("id", "created", "rule", "target", "actions", "status", "who", "reason"), empty="no executions"
    )
    return out + _more(page.next)


def execution(e: m.Execution) -> str:
    alert = e.alert or {}
    pairs: list[tuple[str, Any]] = [
        ("execution", f"#{e.id} ({e.status.value}{', dry-run' if e.dry_run else ''})"),
        ("rule", e.rule),
        ("target", e.target),
        ("actions", "+".join(e.actions)),
        ("who", f"{e.who} (via {e.via})"),
        ("decision", f"{e.decision.outcome}: {e.decision.reason}"),
        ("alert", f"{alert.get('labels', {}).get('alertname', '')} {alert.get('fingerprint', '')}".strip()),
        ("created", _time(e.created_at)),
        ("finished", _time(e.finished_at)),
        ("attempts", e.attempts),
        ("summary", e.summary),
        ("error", e.error or "-"),
    ]
    out = fields(pairs)
    if e.changes:
        diff = yamldiff.render(
            ((c.path, c.before, c.after) for c in e.changes),
            target_key=e.target,
            after_label="planned" if e.dry_run else "applied",
        )
        out += "\nchanges:\n" + "\n".join(f"  {line}" for line in diff)
    return out


def approvals(data: m.ApprovalList) -> str:
    rows = [
        (a.id, a.status.value, a.rule, a.target, "+".join(a.actions), _time(a.expires_at), a.decided_by or "")
        for a in data.approvals
    ]
    return table(
        rows, ("id", "status", "rule", "target", "actions", "expires", "decided by"), empty="no approvals"
    )


def breakers(data: m.BreakerList) -> str:
    rows = [(b.key, b.state, b.failures, _time(b.opened_at), _time(b.half_open_at)) for b in data.breakers]
    return table(rows, ("key", "state", "failures", "opened", "half-open at"), empty="no breakers")


def recorded(data: m.Recorded) -> str:
    d = data.decision
    execution = f"execution #{data.execution_id}" if data.execution_id else "no execution"
    return fields(
        [
            ("outcome", d.outcome.value + (" (dry-run)" if d.dry_run else "")),
            ("rule", d.rule),
            ("target", d.target or "-"),
            ("reason", d.reason),
            ("decision", f"#{data.decision_id}, {execution}"),
        ]
    )


def rules(data: m.RuleList) -> str:
    rows = []
    for r in data.rules:
        states = (("disabled", not r.enabled), ("paused", r.paused is not None), ("dry-run", r.dry_run))
        state = ", ".join(w for w, on in states if on) or "active"
        rows.append((r.name, "+".join(r.actions), state, _tail(r.source)))
    return table(rows, ("name", "actions", "state", "source"), empty="no rules loaded")


def rule(data: m.RuleDetail) -> str:
    return json.dumps(data.model_dump(mode="json", by_alias=True, exclude_unset=True), indent=2)


def audit(page: m.AuditPage) -> str:
    rows = []
    for a in page.audit:
        detail = {k: v for k, v in a.detail.items() if k != "reason" and v not in (None, [], "")}
        rows.append(
            (
                _time(a.at),
                a.actor,
                a.action,
                a.detail.get("reason", ""),
                " ".join(f"{k}={v}" for k, v in detail.items()),
            )
        )
    return table(rows, ("at", "actor", "action", "reason", "detail"), empty="no audit entries") + _more(
        page.next
    )


def incidents(page: m.IncidentPage) -> str:
    rows = [
        (
            i.id,
            i.status.value,
            i.severity or "-",
            i.alertname,
            "/".join(
                v
                for v in (i.labels.get("namespace"), i.labels.get("deployment") or i.labels.get("service"))
                if v
            ),
            _time(i.starts_at),
            _time(i.ends_at),
            i.alerts,
        )
        for i in page.incidents
    ]
    headers = ("id", "status", "severity", "alert", "where", "started", "ended", "alerts")
    return table(rows, headers, empty="no incidents") + _more(page.next)


def timeline(t: m.Timeline) -> str:
    head = fields(
        [
            ("incident", f"{t.id} ({t.status.value}{', ongoing' if t.ongoing else ''})"),
            ("title", t.title),
            ("severity", t.severity or "-"),
            ("started", _time(t.starts_at)),
            ("ended", _time(t.ends_at)),
            ("actions", "; ".join(t.actions_taken) or "none"),
        ]
    )
    rows = [(_time(e.at), e.type, _event(e)) for e in t.events]
    return head + "\n\n" + table(rows, ("at", "event", "what"), empty="no events")


def _event(e: m.TimelineEvent) -> str:
    x: dict[str, Any] = e.model_extra or {}
    if e.type == "alert":
        return f"{x.get('status', '')}" + (f": {x['summary']}" if x.get("summary") else "")
    if e.type == "decision":
        return f"{x.get('rule')} -> {x.get('outcome')}: {x.get('reason', '')}"
    if e.type == "execution":
        mode = " (dry-run)" if x.get("dry_run") else ""
        actions = "+".join(x.get("actions") or [])
        return f"#{x.get('execution_id')} {actions} on {x.get('target')}{mode} -> {x.get('status')}"
    return f"{x.get('kind')} to {x.get('dest')} -> {x.get('status')}"
