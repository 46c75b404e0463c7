"""`remediator ctl`: the override API from a terminal, for an on-call at 3 a.m.

A thin client of /api/v1 (api/control.py) on the standard library only (urllib), so it works
from any box that has the package, with no event loop and nothing of the daemon imported.
The daemon's URL and token come from `--url`/`--token`, else `REMEDIATOR_URL`/`REMEDIATOR_TOKEN`
(prefer the variable for the token: arguments show in `ps`). Output is a human-readable table,
or the API's own JSON with `--output json` (for scripts and jq).

Exit status: 0 done; 1 the API refused (its error and detail are printed); 2 usage, no token, or
the daemon could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

ENV_URL = "REMEDIATOR_URL"
ENV_TOKEN = "REMEDIATOR_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8080"
_WIDTH = 60


class CtlError(Exception):
    def __init__(self, message: str, *, code: int, detail: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class Client:
    """One daemon's /api/v1, with a bearer token."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 15.0) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self._token = token
        self._timeout_s = timeout_s

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        url = self.base + path + (("?" + urllib.parse.urlencode(params)) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                raw = response.read()
                kind = response.headers.get_content_type()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)
                message, detail = str(err.get("error", raw)), err.get("detail")
            except (ValueError, AttributeError):
                message, detail = raw.decode(errors="replace")[:500] or e.reason, None
            raise CtlError(f"HTTP {e.code}: {message}", code=1, detail=detail) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise CtlError(f"cannot reach the daemon at {self.base}: {reason}", code=2) from None
        if kind == "application/json":
            return json.loads(raw)
        return raw.decode()


# -- output ------------------------------------------------------------------------------------------


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


def _pause_text(p: Mapping[str, Any] | None) -> str:
    if not p:
        return "-"
    until = f" until {p['until']}" if p.get("until") else ""
    return f"by {p['by']}{until}: {p['reason']}"


def _time(at: str | None) -> str:
    return (at or "")[:19].replace("T", " ")


def render_status(s: Mapping[str, Any]) -> str:
    rules, journal, kube, dry, brk = s["rules"], s["journal"], s["kubernetes"], s["dry_run"], s["breakers"]
    last = rules.get("last_reload")
    reload = f"; last reload {last['result']} by {last['by']} at {_time(last['at'])}" if last else ""
    paused_rules = ", ".join(f"{name} ({_pause_text(p)})" for name, p in s["paused_rules"].items()) or "-"
    mode = s["mode"] + (f" ({_pause_text(s['paused'])})" if s.get("paused") else "")
    if dry.get("reason") and s["mode"] == "dry-run":
        mode += f" ({dry['reason']})"
    return fields(
        [
            ("mode", mode),
            ("paused rules", paused_rules),
            ("dry-run rules", ", ".join(dry["rules"]) or "-"),
            ("rules", f"{rules['loaded']} loaded ({rules.get('enabled', rules['loaded'])} enabled){reload}"),
            ("breakers", f"{brk['open']} open, {brk['half_open']} half-open"),
            (
                "journal",
                f"{'healthy' if journal['healthy'] else 'UNHEALTHY'}, backlog {journal['backlog']}"
                + (f" ({journal['error']})" if journal.get("error") else ""),
            ),
            (
                "kubernetes",
                "connected" if kube["connected"] else f"not connected: {kube.get('dry_run_reason') or '?'}",
            ),
        ]
    )


def render_executions(data: Mapping[str, Any]) -> str:
    rows = [
        (
            e["id"],
            _time(e["created_at"]),
            e["rule"],
            e["target"],
            "+".join(e["actions"]),
            e["status"] + (" (dry-run)" if e["dry_run"] else ""),
            e["who"],
            e["decision"]["reason"],
        )
        for e in data["executions"]
    ]
    out = table(
        rows, ("id", "created", "rule", "target", "actions", "status", "who", "reason"), empty="no executions"
    )
    if data.get("next"):
        out += f"\nmore: --cursor {data['next']}"
    return out


def render_execution(e: Mapping[str, Any]) -> str:
    alert = e.get("alert") or {}
    pairs: list[tuple[str, Any]] = [
        ("execution", f"#{e['id']} ({e['status']}{', dry-run' if e['dry_run'] else ''})"),
        ("rule", e["rule"]),
        ("target", e["target"]),
        ("actions", "+".join(e["actions"])),
        ("who", f"{e['who']} (via {e['via']})"),
        ("decision", f"{e['decision']['outcome']}: {e['decision']['reason']}"),
        ("alert", f"{alert.get('labels', {}).get('alertname', '')} {alert.get('fingerprint', '')}".strip()),
        ("created", _time(e["created_at"])),
        ("finished", _time(e.get("finished_at"))),
        ("attempts", e["attempts"]),
        ("summary", e["summary"]),
        ("error", e.get("error") or "-"),
    ]
    changes = e.get("changes") or []
    out = fields(pairs)
    if changes:
        out += "\nchanges:\n" + "\n".join(
            f"  {c['path']}: {c['before']!r} -> {c['after']!r}" for c in changes
        )
    return out


def render_approvals(data: Mapping[str, Any]) -> str:
    rows = [
        (
            a["id"],
            a["status"],
            a["rule"],
            a["target"],
            "+".join(a["actions"]),
            _time(a["expires_at"]),
            a.get("decided_by") or "",
        )
        for a in data["approvals"]
    ]
    return table(
        rows, ("id", "status", "rule", "target", "actions", "expires", "decided by"), empty="no approvals"
    )


def render_breakers(data: Mapping[str, Any]) -> str:
    rows = [
        (b["key"], b["state"], b["failures"], _time(b["opened_at"]), _time(b["half_open_at"]))
        for b in data["breakers"]
    ]
    return table(rows, ("key", "state", "failures", "opened", "half-open at"), empty="no breakers")


def render_recorded(data: Mapping[str, Any]) -> str:
    d = data["decision"]
    execution = f"execution #{data['execution_id']}" if data.get("execution_id") else "no execution"
    return fields(
        [
            ("outcome", d["outcome"] + (" (dry-run)" if d["dry_run"] else "")),
            ("rule", d["rule"]),
            ("target", d["target"] or "-"),
            ("reason", d["reason"]),
            ("decision", f"#{data['decision_id']}, {execution}"),
        ]
    )


def render_rules(data: Mapping[str, Any]) -> str:
    rows = [
        (
            r["name"],
            "+".join(r["actions"]),
            ", ".join(
                w
                for w, on in (
                    ("disabled", not r["enabled"]),
                    ("paused", bool(r.get("paused"))),
                    ("dry-run", r.get("dry_run")),
                )
                if on
            )
            or "active",
            _tail(r["source"]),
        )
        for r in data["rules"]
    ]
    return table(rows, ("name", "actions", "state", "source"), empty="no rules loaded")


def render_audit(data: Mapping[str, Any]) -> str:
    rows = []
    for a in data["audit"]:
        detail = {k: v for k, v in a["detail"].items() if k != "reason" and v not in (None, [], "")}
        rows.append(
            (
                _time(a["at"]),
                a["actor"],
                a["action"],
                a["detail"].get("reason", ""),
                " ".join(f"{k}={v}" for k, v in detail.items()),
            )
        )
    out = table(rows, ("at", "actor", "action", "reason", "detail"), empty="no audit entries")
    if data.get("next"):
        out += f"\nmore: --cursor {data['next']}"
    return out


# -- commands -----------------------------------------------------------------------------------------

Command = Callable[[Client, argparse.Namespace], tuple[Any, Callable[[Any], str]]]


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


def c_status(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    return c.call("GET", "/status"), render_status


def c_pause(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    body = _rule_body(a)
    if a.duration:
        body["for"] = a.duration
    data = c.call("POST", "/pause", body=body)
    what = f"rule {a.rule}" if a.rule else "everything"
    return data, lambda d: f"paused {what} {_pause_text(d['pause'])}"


def c_resume(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    data = c.call("POST", "/resume", body=_rule_body(a))
    what = f"rule {a.rule}" if a.rule else "everything"
    return data, lambda d: f"resumed {what}" + ("" if d["was_paused"] else " (it was not paused)")


def c_dry_run(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    data = c.call("POST", "/dry-run", body=_rule_body(a, enabled=a.state == "on"))
    what = f"rule {a.rule}" if a.rule else "global"

    def text(d: Any) -> str:
        out = f"dry-run {a.state} for {what}" + ("" if d["changed"] else " (unchanged)")
        return out + (f"\nnote: {d['note']}" if d.get("note") else "")

    return data, text


def c_trigger(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
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
    path = f"/rules/{urllib.parse.quote(a.rule_name, safe='')}/trigger"
    return c.call("POST", path, body=body), render_recorded


def c_executions(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    if a.id is not None:
        return c.call("GET", f"/executions/{a.id}"), render_execution
    query = {
        "rule": a.rule,
        "target": a.target,
        "outcome": a.outcome,
        "since": a.since,
        "limit": a.limit,
        "cursor": a.cursor,
    }
    return c.call("GET", "/executions", query=query), render_executions


def c_approvals(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    return c.call("GET", "/approvals", query={"status": a.status, "limit": a.limit}), render_approvals


def c_approve(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    data = c.call("POST", f"/approvals/{a.id}/approve", body={"reason": a.reason or ""})
    return data, lambda d: f"approved #{a.id}\n" + render_recorded(d)


def c_reject(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    data = c.call("POST", f"/approvals/{a.id}/reject", body={"reason": a.reason})
    return data, lambda d: f"rejected #{a.id} ({d['approval']['rule']} on {d['approval']['target']})"


def c_breakers(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    return c.call("GET", "/breakers"), render_breakers


def c_reset(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    data = c.call("POST", f"/breakers/{urllib.parse.quote(a.key, safe='')}/reset", body={"reason": a.reason})
    return data, lambda d: f"breaker {d['was']['key']} reset (was {d['was']['state']})"


def c_reload(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    data = c.call("POST", "/reload", body={"reason": a.reason or ""})

    def text(d: Any) -> str:
        changes = [f"{k}: {', '.join(d[k])}" for k in ("added", "removed", "changed") if d[k]]
        return f"reloaded: {d['rules']} rules from {d['files']} file(s)" + (
            f" ({'; '.join(changes)})" if changes else " (no rule changed)"
        )

    return data, text


def c_rules(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    if a.name:
        rule = c.call("GET", f"/rules/{urllib.parse.quote(a.name, safe='')}")
        return rule, lambda d: json.dumps(d, indent=2)
    return c.call("GET", "/rules"), render_rules


def c_audit(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    query = {"actor": a.actor, "action": a.action, "limit": a.limit, "cursor": a.cursor}
    return c.call("GET", "/audit", query=query), render_audit


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
        choices=("table", "json"),
        default=argparse.SUPPRESS if suppress else "table",
        help="table (default) or the API's JSON",
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
        'remediator ctl pause --rule restart-on-oom --reason "investigating the leak"',
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
        "remediator ctl trigger restart-on-oom --target shop/checkout\n"
        'remediator ctl trigger restart-on-oom --target shop/checkout --execute --reason "leak again"\n'
        "remediator ctl trigger rollback-on-5xx --label alertname=HighErrorRate --label namespace=shop "
        "--label deployment=checkout --annotation value=42",
    )
    p_trig.add_argument("rule_name", metavar="RULE")
    p_trig.add_argument("--target", metavar="NAMESPACE/NAME", help="the workload to act on")
    p_trig.add_argument("--kind", choices=("Deployment", "StatefulSet", "DaemonSet"), help="check the kind")
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
        "remediator ctl executions --rule rollback-on-5xx --target shop/checkout --outcome failed\n"
        "remediator ctl executions 42",
    )
    p_exec.add_argument("id", nargs="?", type=int, help="show this execution")
    p_exec.add_argument("--rule")
    p_exec.add_argument("--target", help="namespace/Kind/name, or namespace/name")
    p_exec.add_argument(
        "--outcome",
        choices=("pending", "running", "succeeded", "failed", "interrupted", "planned", "skipped"),
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
    p_appr.add_argument("--status", choices=("pending", "approved", "rejected", "expired"))
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
        'remediator ctl reset rollback-on-5xx:shop/Deployment/checkout --reason "fixed by hand"',
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
        "remediator ctl rules\nremediator ctl rules rollback-on-5xx -o json",
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


def run(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the parsed ctl command; print its result (or the API's error) and return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    env = os.environ if environ is None else environ
    url = args.url or env.get(ENV_URL) or DEFAULT_URL
    token = args.token or env.get(ENV_TOKEN)
    try:
        if not token:
            raise CtlError(f"no API token: pass --token or set {ENV_TOKEN}", code=2)
        data, render = args.command(Client(url, token), args)
    except CtlError as e:
        print(f"remediator ctl: {e}", file=err)
        if e.detail:
            items = e.detail if isinstance(e.detail, list) else [e.detail]
            for item in items:
                print(f"  {item}", file=err)
        return e.code
    try:
        print(json.dumps(data, indent=2, sort_keys=True) if args.output == "json" else render(data), file=out)
        out.flush()
    except BrokenPipeError:
        # `remediator ctl executions | head`: the reader has what it wanted. Point stdout at /dev/null so
        # the interpreter's own flush at exit does not complain.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def parser(prog: str = "remediator ctl") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Override a running remediator over its API: pause, dry-run, trigger, approve, reset, "
        "reload, and read what was done and why.",
        epilog="example:\n  export REMEDIATOR_URL=http://remediator:8080 REMEDIATOR_TOKEN=...\n"
        '  remediator ctl pause --reason "risky migration" --for 1h',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure(p)
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    return run(parser().parse_args(argv), out=out, err=err, environ=environ)


if __name__ == "__main__":
    sys.exit(main())
