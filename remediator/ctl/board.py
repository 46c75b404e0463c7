"""`remediator ctl board|acknowledge|resolve|deferred|timers`: the incidents remediator manages and the
work it has scheduled, from a terminal.

`board` lists the incidents (severity, state, where the escalation ladder is) or shows one with its
timeline; `acknowledge` stops an incident's ladder and `resolve` closes it (both journaled with the
token's name). `deferred` lists the decisions waiting for a slot, in the order they will be decided
again; `timers` what the scheduler will do next (ladder steps, updates, watches, approval reminders).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from remediator.api import models as m
from remediator.ctl.answer import Answer, Command, answer
from remediator.ctl.client import Client, quoted
from remediator.ctl.render import fields, table
from remediator.durations import format_duration

EXAMPLE_ID = "20261123-000100-d6535d"
"""An incident id as the board shows them (opened at, then a hash of what groups its alerts)."""

AddCommand = Callable[[Any, str, Command, str, str, str], argparse.ArgumentParser]


def _time(at: str | None) -> str:
    return (at or "")[:19].replace("T", " ")


def _next_step(i: m.BoardIncident) -> str:
    if i.escalated_at is None:
        return "-"
    if i.acknowledged_by:
        return f"stopped (acknowledged by {i.acknowledged_by})"
    step = next((s for s in i.ladder if not s.fired), None)
    if step is None or i.state != "open":
        return "done" if step is None else "stopped"
    return f"{step.to} at {_time(step.due_at)}"


def incidents(page: m.BoardList) -> str:
    rows = [
        (i.id, i.severity or "-", i.state.value, i.title, _time(i.opened_at), _next_step(i))
        for i in page.incidents
    ]
    return table(rows, ("id", "sev", "state", "title", "opened", "next escalation"), empty="no incidents")


def incident(d: m.BoardDetail) -> str:
    ladder = [
        f"+{format_duration(s.after_s)} {s.to}: "
        + ("fired" if s.fired else f"due {_time(s.due_at)}" if s.due_at else "if escalated")
        for s in d.ladder
    ]
    head = fields(
        [
            ("incident", f"{d.id} ({d.state.value})"),
            ("title", d.title),
            ("severity", d.severity or "-"),
            ("rule", d.rule),
            ("target", d.target or "-"),
            ("opened", _time(d.opened_at)),
            ("actions", "; ".join(d.actions) or "none"),
            ("escalated", f"{_time(d.escalated_at)}: {d.escalation_reason}" if d.escalated_at else "no"),
            (
                "acknowledged",
                f"{_time(d.acknowledged_at)} by {d.acknowledged_by}" if d.acknowledged_by else "no",
            ),
            ("ladder", "; ".join(ladder) or "-"),
            ("paged", ", ".join(d.pages) or "-"),
            ("updates", f"every {format_duration(d.updates_every_s)}" if d.updates_every_s else "-"),
            ("watch", f"until {_time(d.watch_until)}" if d.watch_until else "-"),
            ("reopened", d.reopened),
        ]
    )
    rows = [(_time(e.at), e.kind, e.text) for e in d.events]
    return head + "\n\n" + table(rows, ("at", "event", "what"), empty="no events")


def deferred(page: m.DeferredList) -> str:
    rows = [
        (
            d.id,
            d.severity or "-",
            d.status.value,
            d.rule,
            d.target,
            _time(d.created_at),
            d.attempts,
            d.result or d.reason,
        )
        for d in page.deferred
    ]
    headers = ("id", "sev", "status", "rule", "target", "since", "tries", "why")
    return table(rows, headers, empty="nothing deferred") + f"\n{page.waiting} waiting"


def timers(page: m.TimerList) -> str:
    rows = [
        (
            t.id,
            _time(t.due_at),
            t.kind,
            t.key,
            t.result or (f"claimed by {t.claimed_by}" if t.claimed_by else ""),
        )
        for t in page.timers
    ]
    return table(rows, ("id", "due", "kind", "key", "state"), empty="no timers")


def c_board(c: Client, a: argparse.Namespace) -> Answer:
    if a.id is not None:
        return answer(c.call("GET", f"/incident-board/{quoted(a.id)}"), m.BoardDetail, incident)
    data = c.call("GET", "/incident-board", query={"state": a.state, "limit": a.limit})
    return answer(data, m.BoardList, incidents)


def _human(verb: str) -> Command:
    def command(c: Client, a: argparse.Namespace) -> Answer:
        data = c.call("POST", f"/incident-board/{quoted(a.id)}/{verb}", body={"reason": a.reason})
        return answer(data, m.BoardResult, lambda d: f"{d.incident.id}: {verb}d ({d.incident.state.value})")

    return command


def c_deferred(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("GET", "/deferred", query={"status": a.status, "limit": a.limit})
    return answer(data, m.DeferredList, deferred)


def c_timers(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("GET", "/timers", query={"state": a.state, "limit": a.limit})
    return answer(data, m.TimerList, timers)


def add_commands(sub: Any, add: AddCommand) -> None:
    """Add the board's subcommands with `add` (commands.py's, so they look like the others)."""
    p = add(
        sub,
        "board",
        c_board,
        "incidents remediator manages: severity, state, escalation ladder",
        "List the incidents remediator manages (default: every one not resolved), with their severity, "
        "state and next escalation step, or show one: its ladder (what fired, what is due when), pages, "
        "updates, watch and timeline.",
        f"remediator ctl board\nremediator ctl board --state watching\nremediator ctl board {EXAMPLE_ID}",
    )
    p.add_argument("id", nargs="?", metavar="ID", help="show this incident (an id from the list)")
    p.add_argument("--state", choices=[s.value for s in m.BoardState])
    p.add_argument("--limit", type=int, help="at most this many (default 50, at most 500)")
    for verb, summary, description in (
        (
            "acknowledge",
            "a human has the incident: its escalation ladder stops",
            "Acknowledge an incident: what is left of its escalation ladder is not paged (updates go on "
            "while it is open). Acknowledging its page in PagerDuty does the same.",
        ),
        (
            "resolve",
            "declare an incident over: ladder, updates and watch stop",
            "Resolve an incident by hand: ladder, updates and watch stop, its PagerDuty pages are "
            "resolved and its channel is told.",
        ),
    ):
        p = add(
            sub,
            verb,
            _human(verb),
            summary,
            description,
            f'remediator ctl {verb} {EXAMPLE_ID} --reason "on it"',
        )
        p.add_argument("id", metavar="ID")
        p.add_argument("--reason", required=True, help="why (journaled, shown in the timeline)")
    p = add(
        sub,
        "deferred",
        c_deferred,
        "decisions waiting for a slot (target busy, namespace limit, storm brake)",
        "List deferred decisions: waiting ones most severe first, then oldest, as they will be decided "
        "again; or how past ones ended (redecided, cancelled by the resolution, expired, shed).",
        "remediator ctl deferred\nremediator ctl deferred --status shed",
    )
    p.add_argument("--status", choices=[s.value for s in m.DeferredStatus])
    p.add_argument("--limit", type=int)
    p = add(
        sub,
        "timers",
        c_timers,
        "what the scheduler will do next",
        "List the journal's timers: pending ones soonest first (escalation steps, incident updates, "
        "watches, approval reminders and expiry, deferred retries), or done ones newest first with "
        "what each did.",
        "remediator ctl timers\nremediator ctl timers --state done --limit 20",
    )
    p.add_argument("--state", choices=[s.value for s in m.TimerState])
    p.add_argument("--limit", type=int)
