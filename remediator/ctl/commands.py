"""`remediator ctl`'s commands: each calls the API, parses the answer into its model and says how to
print it for a human; `--output json|yaml` prints the answer itself. The choices (statuses, kinds)
come from the API's enums."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, get_args

from remediator.api import models as m
from remediator.api.models import ApprovalStatus, ExecutionStatus, IncidentStatus, WorkloadKind
from remediator.ctl import board, render
from remediator.ctl.answer import Answer, Command
from remediator.ctl.answer import answer as _answer
from remediator.ctl.client import Client, CtlError, quoted

ENV_URL = "REMEDIATOR_URL"
ENV_TOKEN = "REMEDIATOR_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8080"


def _kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CtlError(f"{what} {item!r} is not KEY=VALUE", code=2)
        out[key] = value
    return out


def _rule_body(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    body = {"reason": args.reason, **extra}
    if args.rule:
        body["rule"] = args.rule
    return body


def _what(a: argparse.Namespace, everything: str) -> str:
    return f"rule {a.rule}" if a.rule else everything


def c_status(c: Client, a: argparse.Namespace) -> Answer:
    return _answer(c.call("GET", "/status"), m.Status, render.status)


def c_pause(c: Client, a: argparse.Namespace) -> Answer:
    body = _rule_body(a)
    if a.duration:
        body["for"] = a.duration
    data = c.call("POST", "/pause", body=body)
    return _answer(
        data, m.PauseResult, lambda d: f"paused {_what(a, 'everything')} {render.pause_text(d.pause)}"
    )


def c_resume(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("POST", "/resume", body=_rule_body(a))
    return _answer(
        data,
        m.ResumeResult,
        lambda d: f"resumed {_what(a, 'everything')}" + ("" if d.was_paused else " (it was not paused)"),
    )


def c_dry_run(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("POST", "/dry-run", body=_rule_body(a, enabled=a.state == "on"))

    def text(d: m.DryRunResult) -> str:
        out = f"dry-run {a.state} for {_what(a, 'global')}" + ("" if d.changed else " (unchanged)")
        return out + (f"\nnote: {d.note}" if d.note else "")

    return _answer(data, m.DryRunResult, text)


def c_trigger(c: Client, a: argparse.Namespace) -> Answer:
    body: dict[str, Any] = {"dry_run": not a.execute, "reason": a.reason or ""}
    labels, annotations = _kv(a.label, "--label"), _kv(a.annotation, "--annotation")
    if a.target:
        namespace, sep, name = a.target.partition("/")
        if not sep or not namespace or not name:
            raise CtlError(f"--target {a.target!r} is not NAMESPACE/NAME", code=2)
        target: dict[str, Any] = {"namespace": namespace, "name": name}
        if a.kind:
            target["kind"] = a.kind
        if labels:
            target["labels"] = labels
        if annotations:
            target["annotations"] = annotations
        body["target"] = target
    elif labels:
        body["alert"] = {"labels": labels, "annotations": annotations}
    else:
        raise CtlError(
            "say what to run the rule for: --target NAMESPACE/NAME or --label KEY=VALUE ...", code=2
        )
    data = c.call("POST", f"/rules/{quoted(a.rule_name)}/trigger", body=body)
    return _answer(data, m.Recorded, render.recorded)


def c_executions(c: Client, a: argparse.Namespace) -> Answer:
    if a.id is not None:
        return _answer(c.call("GET", f"/executions/{a.id}"), m.Execution, render.execution)
    query = {
        "rule": a.rule,
        "target": a.target,
        "outcome": a.outcome,
        "since": a.since,
        "limit": a.limit,
        "cursor": a.cursor,
    }
    return _answer(c.call("GET", "/executions", query=query), m.ExecutionPage, render.executions)


def c_approvals(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("GET", "/approvals", query={"status": a.status, "limit": a.limit})
    return _answer(data, m.ApprovalList, render.approvals)


def c_approve(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("POST", f"/approvals/{a.id}/approve", body={"reason": a.reason or ""})
    return _answer(data, m.ApproveResult, lambda d: f"approved #{a.id}\n" + render.recorded(d))


def c_reject(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("POST", f"/approvals/{a.id}/reject", body={"reason": a.reason})
    return _answer(
        data, m.RejectResult, lambda d: f"rejected #{a.id} ({d.approval.rule} on {d.approval.target})"
    )


def c_breakers(c: Client, a: argparse.Namespace) -> Answer:
    return _answer(c.call("GET", "/breakers"), m.BreakerList, render.breakers)


def c_reset(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("POST", f"/breakers/{quoted(a.key)}/reset", body={"reason": a.reason})
    return _answer(data, m.ResetResult, lambda d: f"breaker {d.was.key} reset (was {d.was.state})")


def c_reload(c: Client, a: argparse.Namespace) -> Answer:
    data = c.call("POST", "/reload", body={"reason": a.reason or ""})

    def text(d: m.ReloadResult) -> str:
        changes = [
            f"{k}: {', '.join(v)}"
            for k, v in (("added", d.added), ("removed", d.removed), ("changed", d.changed))
            if v
        ]
        return f"reloaded: {d.rules} rules from {d.files} file(s)" + (
            f" ({'; '.join(changes)})" if changes else " (no rule changed)"
        )

    return _answer(data, m.ReloadResult, text)


def c_rules(c: Client, a: argparse.Namespace) -> Answer:
    if a.name:
        data = c.call("GET", f"/rules/{quoted(a.name)}")
        return _answer(data, m.RuleDetail, lambda _: json.dumps(data, indent=2))
    return _answer(c.call("GET", "/rules"), m.RuleList, render.rules)


def c_audit(c: Client, a: argparse.Namespace) -> Answer:
    query = {"actor": a.actor, "action": a.action, "limit": a.limit, "cursor": a.cursor}
    return _answer(c.call("GET", "/audit", query=query), m.AuditPage, render.audit)


def c_incidents(c: Client, a: argparse.Namespace) -> Answer:
    if a.id is None:
        if a.markdown:
            raise CtlError("--markdown needs an incident: remediator ctl incidents ID --markdown", code=2)
        query = {"status": a.status, "since": a.since, "limit": a.limit, "cursor": a.cursor}
        return _answer(c.call("GET", "/incidents", query=query), m.IncidentPage, render.incidents)
    path = f"/incidents/{quoted(a.id)}/timeline"
    if a.markdown:
        text = str(c.call("GET", path, query={"format": "markdown"}))
        return Answer({"incident": a.id, "markdown": text}, lambda: text.rstrip("\n"))
    return _answer(c.call("GET", path), m.Timeline, render.timeline)


# -- parser ---------------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    p.add_argument(
        "--url", default=default, help=f"the daemon's base URL (default: ${ENV_URL}, else {DEFAULT_URL})"
    )
    p.add_argument(
        "--token", default=default, help=f"API token (default: ${ENV_TOKEN}; prefer it: arguments show in ps)"
    )
    p.add_argument(
        "--output",
        "-o",
        choices=render.OUTPUTS,
        default=argparse.SUPPRESS if suppress else "table",
        help="table (default: for a human), or the API's answer as json or yaml",
    )


def _sub(
    sub: Any, name: str, command: Command, help_text: str, description: str, example: str
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=description,
        epilog="example:\n  " + example.replace("\n", "\n  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, suppress=True)
    p.set_defaults(command=command)
    return p


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ctl options and subcommands to `p` (`remediator ctl`, or standalone in `main`)."""
    _common(p, suppress=False)
    sub = p.add_subparsers(dest="ctl_command", required=True, metavar="COMMAND")
    _sub(
        sub,
        "status",
        c_status,
        "mode, pauses, dry-run, breakers, rules, journal, Kubernetes",
        "Show what the daemon is doing: running, paused or dry-run (and who and why), paused and dry-run "
        "rules, breakers, rules loaded, the journal's backlog and health, and Kubernetes.",
        "REMEDIATOR_TOKEN=... remediator ctl status --url http://remediator:8080",
    )
    p_pause = _sub(
        sub,
        "pause",
        c_pause,
        "pause automation (everything or one rule)",
        "Pause automation: every decision is recorded as `paused` and nothing acts, until resumed or "
        "the pause expires. Journaled with your token's name and the reason.",
        'remediator ctl pause --reason "database migration" --for 2h\n'
        'remediator ctl pause --rule restart-on-memory-high --reason "investigating the leak"',
    )
    p_pause.add_argument("--rule", help="pause only this rule")
    p_pause.add_argument(
        "--for", dest="duration", metavar="DURATION", help="expire after this long (30m, 2h)"
    )
    p_pause.add_argument("--reason", required=True, help="why (shown in status, decisions and the audit)")
    p_resume = _sub(
        sub,
        "resume",
        c_resume,
        "lift a pause",
        "Lift the global pause, or one rule's.",
        'remediator ctl resume --reason "migration done"',
    )
    p_resume.add_argument("--rule", help="resume only this rule")
    p_resume.add_argument("--reason", required=True, help="why")
    p_dry = _sub(
        sub,
        "dry-run",
        c_dry_run,
        "turn dry-run on or off (globally or for one rule)",
        "Dry-run: decide and record the plan (the diff), change nothing.",
        'remediator ctl dry-run on --rule rollback-on-5xx-after-deploy --reason "new rule, watching it"\n'
        'remediator ctl dry-run off --reason "back to normal"',
    )
    p_dry.add_argument("state", choices=("on", "off"))
    p_dry.add_argument("--rule", help="only this rule")
    p_dry.add_argument("--reason", required=True, help="why")
    p_trig = _sub(
        sub,
        "trigger",
        c_trigger,
        "run a rule by hand (dry-run unless --execute)",
        "Run a rule by hand for a target or an alert's labels, through every guard. Dry-run unless "
        "--execute (which needs an admin token). With --target the rule's `when` is not evaluated.",
        "remediator ctl trigger restart-on-memory-high --target shop/checkout\n"
        "remediator ctl trigger restart-on-memory-high --target shop/checkout --execute "
        '--reason "leak again"\n'
        "remediator ctl trigger rollback-on-5xx-after-deploy --label alertname=HighErrorRate "
        "--label namespace=shop --label deployment=checkout --annotation value=42",
    )
    p_trig.add_argument("rule_name", metavar="RULE")
    p_trig.add_argument("--target", metavar="NAMESPACE/NAME", help="the workload to act on")
    p_trig.add_argument("--kind", choices=get_args(WorkloadKind), help="check the kind")
    p_trig.add_argument("--label", action="append", metavar="KEY=VALUE", help="alert label (repeatable)")
    p_trig.add_argument("--annotation", action="append", metavar="KEY=VALUE", help="alert annotation")
    p_trig.add_argument("--execute", action="store_true", help="act for real (admin token)")
    p_trig.add_argument("--reason", help="why (journaled)")
    p_exec = _sub(
        sub,
        "executions",
        c_executions,
        "what was done and why (the audit trail)",
        "List executions newest first (alert, rule, reason, outcome, who), or show one with its diff.",
        "remediator ctl executions --since 2h\n"
        "remediator ctl executions --rule rollback-on-5xx-after-deploy --target shop/checkout "
        "--outcome failed\n"
        "remediator ctl executions 42",
    )
    p_exec.add_argument("id", nargs="?", type=int, help="show this execution")
    p_exec.add_argument("--rule")
    p_exec.add_argument("--target", help="namespace/Kind/name, or namespace/name")
    p_exec.add_argument(
        "--outcome",
        choices=[s.value for s in ExecutionStatus],
    )
    p_exec.add_argument("--since", help="RFC 3339 time or a duration ago (2h)")
    p_exec.add_argument("--limit", type=int, help="page size (default 50, at most 500)")
    p_exec.add_argument("--cursor", help="the next page, as printed after a page")
    p_appr = _sub(
        sub,
        "approvals",
        c_approvals,
        "actions waiting for a human",
        "List approvals (pending first to act on).",
        "remediator ctl approvals --status pending",
    )
    p_appr.add_argument("--status", choices=[s.value for s in ApprovalStatus])
    p_appr.add_argument("--limit", type=int)
    p_ok = _sub(
        sub,
        "approve",
        c_approve,
        "approve a pending action",
        "Approve a pending action: it is decided again with every other guard in force, then executed.",
        'remediator ctl approve 7 --reason "checked the dashboard"',
    )
    p_ok.add_argument("id", type=int)
    p_ok.add_argument("--reason", help="why (journaled)")
    p_no = _sub(
        sub,
        "reject",
        c_reject,
        "reject a pending action",
        "Reject a pending action; nothing is done.",
        'remediator ctl reject 7 --reason "not during the sale"',
    )
    p_no.add_argument("id", type=int)
    p_no.add_argument("--reason", required=True, help="why")
    _sub(
        sub,
        "breakers",
        c_breakers,
        "circuit breakers",
        "List circuit breakers per rule and target (open after repeated failures).",
        "remediator ctl breakers",
    )
    p_reset = _sub(
        sub,
        "reset",
        c_reset,
        "close a circuit breaker",
        "Close a circuit breaker (KEY as listed by `breakers`: rule:namespace/Kind/name).",
        'remediator ctl reset rollback-on-5xx-after-deploy:shop/Deployment/checkout --reason "fixed by hand"',
    )
    p_reset.add_argument("key", metavar="KEY")
    p_reset.add_argument("--reason", required=True, help="why")
    p_reload = _sub(
        sub,
        "reload",
        c_reload,
        "reload the rule files",
        "Reload the rule files atomically: if any file is invalid the current rules stay active and "
        "every error is printed as file:line: message.",
        "remediator ctl reload",
    )
    p_reload.add_argument("--reason", help="why (journaled)")
    p_rules = _sub(
        sub,
        "rules",
        c_rules,
        "the rules loaded",
        "List the rules loaded, or show one as loaded (matchers, when, target, actions, guards).",
        "remediator ctl rules\nremediator ctl rules rollback-on-5xx-after-deploy -o json",
    )
    p_rules.add_argument("name", nargs="?")
    p_audit = _sub(
        sub,
        "audit",
        c_audit,
        "every change made through the API, who and why",
        "List the audit trail: pauses, dry-run switches, triggers, approvals, resets, reloads.",
        "remediator ctl audit --actor alice",
    )
    p_audit.add_argument("--actor")
    p_audit.add_argument("--action")
    p_audit.add_argument("--limit", type=int)
    p_audit.add_argument("--cursor")
    p_inc = _sub(
        sub,
        "incidents",
        c_incidents,
        "alert episodes, one's timeline, its postmortem draft",
        "List incidents (alert episodes) newest first, or show one's timeline: alerts, decisions, "
        "executions and escalations in time order; --markdown prints its postmortem draft.",
        "remediator ctl incidents --status firing --since 1d\n"
        "remediator ctl incidents 4cde567b6413872d-1795392008\n"
        "remediator ctl incidents 4cde567b6413872d-1795392008 --markdown > postmortem.md",
    )
    p_inc.add_argument("id", nargs="?", metavar="ID", help="show this incident (an id from the list)")
    p_inc.add_argument("--markdown", action="store_true", help="the postmortem draft, as Markdown")
    p_inc.add_argument("--status", choices=[s.value for s in IncidentStatus])
    p_inc.add_argument("--since", help="RFC 3339 time or a duration ago (2h)")
    p_inc.add_argument("--limit", type=int, help="page size (default 50, at most 500)")
    p_inc.add_argument("--cursor", help="the next page, as printed after a page")
    board.add_commands(sub, _sub)
