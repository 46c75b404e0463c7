"""The override API under /api/v1: on-call takes the wheel (pause, dry-run, trigger, approve, reset, reload)
and reads what was done and why.

Handlers are thin: authenticate (apiauth), parse and validate the request, call the `Operator`
(override/operator.py) or the journal's read model (store/protocols.py: `ReadModel`), answer JSON.
`ROUTES` is the one list of routes with the scope each needs; server.py registers it and the OpenAPI document
(api/openapi.py) is tested against it.

Errors are `{"error": "...", "detail": ...}`:
400 the request is wrong (not JSON, not an object, a missing or invalid field, an unknown key or
query parameter, a target the rule cannot render); 401 no or unknown token; 403 a read token where
admin is needed; 404 no such rule, execution, approval, breaker or incident; 409 the state forbids
it (an approval already decided or expired); 422 a reload found invalid rule files (detail: every
`path:line: msg`); 503 the daemon has no operator wired (tests building a bare app).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from remediator import __version__
from remediator.api.apiauth import Caller, Scope, forbidden, requires
from remediator.api.errors import error_response, refusal_status
from remediator.api.openapi import openapi
from remediator.api.state import STATE
from remediator.durations import parse_duration
from remediator.engine.mode import Mode, Pause
from remediator.guards.breaker import CLOSED, BreakerView
from remediator.logs import get_logger
from remediator.model import Decision, ExecutionStatus
from remediator.override import BadRequest, OperationRefused, Operator, Recorded
from remediator.override.incidents import postmortem_markdown, with_durations
from remediator.override.manual import alert_for_target, manual_alert
from remediator.rules import Matcher, Rule, Template, Threshold
from remediator.store import JournalUnavailable, readmodel

log = get_logger("remediator.api")

PREFIX = "/api/v1"
DEFAULT_LIMIT, MAX_LIMIT = 50, 500

OpHandler = Callable[[web.Request, Caller, Operator], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


# -- request bodies (strict: an unknown key is a typo, and a typo must not pass silently) ----------

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
OptionalReason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Labels = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str], Field(max_length=64)
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class PauseBody(_Body):
    reason: Reason
    rule: Name | None = None
    for_: str | None = Field(default=None, alias="for", max_length=64)


class ResumeBody(_Body):
    reason: Reason
    rule: Name | None = None


class DryRunBody(_Body):
    enabled: bool
    reason: Reason
    rule: Name | None = None


class ReloadBody(_Body):
    reason: OptionalReason = ""


class ReasonBody(_Body):
    reason: Reason


class OptionalReasonBody(_Body):
    reason: OptionalReason = ""


class AlertIn(_Body):
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    startsAt: datetime | None = None  # Alertmanager's spelling


class TargetIn(_Body):
    namespace: Name
    name: Name
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)


class TriggerBody(_Body):
    alert: AlertIn | None = None
    target: TargetIn | None = None
    dry_run: bool = True
    reason: OptionalReason = ""


async def _body(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON object body; an empty body is `{}` (so the error names what is missing)."""
    raw = await request.read()
    if raw.strip():
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"request body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise BadRequest(f"request body must be a JSON object, not {type(data).__name__}")
    else:
        raw = b"{}"
    try:
        # JSON mode: strict types, but RFC 3339 strings are datetimes.
        return model.model_validate_json(raw)
    except ValidationError as e:
        problems = [_problem(err) for err in e.errors(include_url=False)]
        raise BadRequest("invalid request body: " + "; ".join(problems), detail=problems) from None


def _problem(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "body"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    return f"{loc}: {err['msg']}"


# -- query parameters ---------------------------------------------------------------------------------


def _query(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise BadRequest(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; this endpoint takes "
            + (", ".join(allowed) or "none")
        )
    return {k: request.query[k] for k in allowed if k in request.query}


def _limit(q: Mapping[str, str]) -> int:
    text = q.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, not {text[:40]!r}")
    return int(text)


def _since(q: Mapping[str, str], now: datetime) -> datetime | None:
    """RFC 3339 time, or a duration meaning that long ago (`since=2h`)."""
    text = q.get("since")
    if text is None:
        return None
    try:
        return now - timedelta(seconds=parse_duration(text))
    except (ValueError, OverflowError):
        pass
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"since must be an RFC 3339 time (2026-11-23T10:00:00Z) or a duration (2h), not {text[:40]!r}"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _cursor(q: Mapping[str, str]) -> str | None:
    cursor = q.get("cursor")
    try:
        readmodel.parse_cursor(cursor)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    return cursor


def _enum(q: Mapping[str, str], key: str, values: tuple[str, ...]) -> str | None:
    value = q.get(key)
    if value is not None and value not in values:
        raise BadRequest(f"{key} must be one of {', '.join(values)}, not {value[:40]!r}")
    return value


def _int_id(request: web.Request, what: str) -> int:
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= readmodel.MAX_ID:
        raise BadRequest(f"{what} id must be a positive integer, not {text[:40]!r}")
    return int(text)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=functools.partial(json.dumps, default=str))


# -- rendering ----------------------------------------------------------------------------------------


def _pause(p: Pause | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"by": p.by, "reason": p.reason, "until": p.until.isoformat() if p.until else None}


def _plain(value: Any) -> Any:
    """A rule's compiled parts as the rule file spells them: matchers, templates and thresholds as text."""
    if isinstance(value, Matcher | Template | Threshold | Path):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def rule_summary(rule: Rule, mode: Mode, paused: dict[str, Pause]) -> dict[str, Any]:
    return {
        "name": rule.name,
        "description": rule.description,
        "severity": rule.severity,
        "enabled": rule.enabled,
        "source": rule.source,
        "actions": [a.kind for a in rule.actions],
        "paused": _pause(paused.get(rule.name)),
        "dry_run": rule.name in mode.dry_run_rules or bool(rule.guards.dry_run),
    }


def rule_detail(rule: Rule, mode: Mode, paused: dict[str, Pause]) -> dict[str, Any]:
    out = _plain(rule)
    out.pop("source_path", None)
    out.pop("source_line", None)
    out["match"] = out.pop("matchers")
    out["when"] = out.pop("condition")
    out["source"] = rule.source
    out["paused"] = _pause(paused.get(rule.name))
    out["in_dry_run"] = rule.name in mode.dry_run_rules or bool(rule.guards.dry_run)
    return dict(out)


def decision_json(d: Decision) -> dict[str, Any]:
    return {
        "rule": d.rule,
        "target": d.target.key if d.target else None,
        "actions": [{"kind": a.kind, "params": _plain(a.params)} for a in d.actions],
        "outcome": d.outcome.value,
        "reason": d.reason,
        "dry_run": d.dry_run,
        "decided_at": d.decided_at.isoformat(),
        "alert": {
            "source": d.alert.source,
            "fingerprint": d.alert.fingerprint,
            "status": d.alert.status,
            "labels": dict(d.alert.labels),
            "annotations": dict(d.alert.annotations),
            "starts_at": d.alert.starts_at.isoformat(),
        },
    }


def _recorded(r: Recorded) -> dict[str, Any]:
    return {
        "decision": decision_json(r.decision),
        "alert_id": r.alert_id,
        "decision_id": r.decision_id,
        "execution_id": r.execution_id,
    }


def breaker_json(v: BreakerView) -> dict[str, Any]:
    return {
        "key": f"{v.rule}:{v.target}",
        "rule": v.rule,
        "target": v.target,
        "state": v.state,
        "failures": v.failures,
        "opened_at": v.opened_at.isoformat() if v.opened_at else None,
        "half_open_at": v.half_open_at.isoformat() if v.half_open_at else None,
    }


# -- handlers -------------------------------------------------------------------------------------------


async def status(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    _query(request, ())
    state = request.app[STATE]
    mode = state.mode
    paused, per_rule = op.active_pauses()
    op.refresh_metrics()
    if paused is not None:
        overall = "paused"
    elif mode.dry_run or mode.no_cluster:
        overall = "dry-run"
    else:
        overall = "running"
    if mode.no_cluster:
        dry_reason = f"no Kubernetes cluster reachable ({mode.no_cluster})"
    elif mode.dry_run:
        dry_reason = "global dry-run is on"
    else:
        dry_reason = None
    try:
        await op.journal.ping()
        journal_ok, journal_error = True, None
    except Exception as e:  # a status page must answer even when the journal does not
        journal_ok, journal_error = False, str(e)
    backlog = op.journal.backlog()
    limit = state.settings.journal.max_backlog_payloads
    rules = op.rules()
    views = op.breaker_views()
    return _json(
        {
            "mode": overall,
            "version": __version__,
            "caller": {"name": caller.name, "scope": caller.scope},
            "paused": _pause(paused),
            "paused_rules": {name: _pause(p) for name, p in sorted(per_rule.items())},
            "dry_run": {
                "global": bool(mode.dry_run or mode.no_cluster),
                "reason": dry_reason,
                "rules": sorted(mode.dry_run_rules),
            },
            "rules": {
                "loaded": len(rules),
                "enabled": sum(1 for r in rules if r.enabled),
                "files": [str(f) for f in rules.files],
                "last_reload": op.last_reload,
            },
            "breakers": {
                "open": sum(1 for v in views if v.state == "open"),
                "half_open": sum(1 for v in views if v.state == "half_open"),
                "not_closed": [breaker_json(v) for v in views if v.state != CLOSED],
            },
            "journal": {
                "healthy": journal_ok and backlog < limit,
                "error": journal_error,
                "backlog": backlog,
                "max_backlog": limit,
                "write_errors": state.metrics.registry.get_sample_value("remediator_journal_errors_total"),
            },
            "kubernetes": {
                "connected": state.kube_ready(),
                "dry_run_reason": f"no Kubernetes cluster reachable ({mode.no_cluster})"
                if mode.no_cluster
                else None,
            },
        }
    )


async def pause(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    body = await _body(request, PauseBody)
    for_s = None
    if body.for_ is not None:
        try:
            for_s = parse_duration(body.for_)
        except ValueError as e:
            raise BadRequest(f"for: {e}") from None
        if for_s <= 0:
            raise BadRequest("for: a pause must last longer than 0s (leave `for` out for no expiry)")
    p = await op.pause(actor=caller.name, reason=body.reason, rule=body.rule, for_s=for_s)
    return _json({"paused": True, "rule": body.rule, "pause": _pause(p)})


async def resume(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    body = await _body(request, ResumeBody)
    lifted = await op.resume(actor=caller.name, reason=body.reason, rule=body.rule)
    return _json(
        {"paused": False, "rule": body.rule, "was_paused": lifted is not None, "lifted": _pause(lifted)}
    )


async def dry_run(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    body = await _body(request, DryRunBody)
    changed = await op.set_dry_run(
        actor=caller.name, reason=body.reason, enabled=body.enabled, rule=body.rule
    )
    mode = request.app[STATE].mode
    note = None
    if body.rule is None and not body.enabled and mode.no_cluster:
        note = f"every action still runs as dry-run: no Kubernetes cluster reachable ({mode.no_cluster})"
    return _json({"enabled": body.enabled, "rule": body.rule, "changed": changed, "note": note})


async def list_rules(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    _query(request, ())
    _, per_rule = op.active_pauses()
    mode = request.app[STATE].mode
    rules = op.rules()
    return _json(
        {"rules": [rule_summary(r, mode, per_rule) for r in rules], "files": [str(f) for f in rules.files]}
    )


async def show_rule(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    _query(request, ())
    rule = op.rule(request.match_info["name"])
    _, per_rule = op.active_pauses()
    return _json(rule_detail(rule, request.app[STATE].mode, per_rule))


async def reload(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    body = await _body(request, ReloadBody)
    result = await op.reload(actor=caller.name, reason=body.reason or "reload requested over the API")
    return _json(
        {
            "result": "success",
            "rules": result.rules,
            "files": result.files,
            "added": result.added,
            "removed": result.removed,
            "changed": result.changed,
        }
    )


async def trigger(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    body = await _body(request, TriggerBody)
    rule = op.rule(request.match_info["name"])
    if (body.alert is None) == (body.target is None):
        raise BadRequest("send exactly one of 'alert' (labels, annotations) or 'target' (namespace, name)")
    if not body.dry_run and not caller.may("admin"):
        return forbidden(caller, "a trigger with dry_run false")
    now = request.app[STATE].clock.now()
    if body.alert is not None:
        starts = body.alert.startsAt
        alert = manual_alert(
            labels=dict(body.alert.labels),
            annotations=dict(body.alert.annotations),
            now=now,
            fingerprint=body.alert.fingerprint,
            starts_at=(starts if starts.tzinfo else starts.replace(tzinfo=UTC)) if starts else None,
        )
    else:
        assert body.target is not None
        t = body.target
        alert = alert_for_target(
            rule,
            namespace=t.namespace,
            name=t.name,
            kind=t.kind,
            labels=dict(t.labels),
            annotations=dict(t.annotations),
            now=now,
        )
    recorded = await op.trigger(
        actor=caller.name,
        reason=body.reason,
        rule_name=rule.name,
        alert=alert,
        dry_run=body.dry_run,
        by_target=body.target is not None,
    )
    return _json(_recorded(recorded))


async def list_executions(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    q = _query(request, ("rule", "target", "outcome", "since", "limit", "cursor"))
    page = await op.journal.list_executions(
        rule=q.get("rule"),
        target=q.get("target"),
        status=_enum(q, "outcome", tuple(s.value for s in ExecutionStatus)),
        since=_since(q, request.app[STATE].clock.now()),
        limit=_limit(q),
        cursor=_cursor(q),
    )
    return _json({"executions": page.items, "next": page.next})


async def show_execution(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    _query(request, ())
    execution_id = _int_id(request, "execution")
    found = await op.journal.get_execution(execution_id)
    if found is None:
        return error_response(404, f"no execution #{execution_id}")
    return _json(found)


APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired")


async def list_approvals(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    q = _query(request, ("status", "limit"))
    items = await op.journal.list_approvals(status=_enum(q, "status", APPROVAL_STATUSES), limit=_limit(q))
    return _json({"approvals": items})


async def approve(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    approval_id = _int_id(request, "approval")
    body = await _body(request, OptionalReasonBody)
    approval, recorded = await op.approve(actor=caller.name, approval_id=approval_id, reason=body.reason)
    return _json({"approval": readmodel.approval_json(approval), **_recorded(recorded)})


async def reject(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    approval_id = _int_id(request, "approval")
    body = await _body(request, ReasonBody)
    approval = await op.reject(actor=caller.name, approval_id=approval_id, reason=body.reason)
    return _json({"approval": readmodel.approval_json(approval)})


async def list_breakers(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    _query(request, ())
    # A closed breaker with no failure is the same as none: only those with something to say are listed.
    views = [v for v in op.breaker_views() if v.state != CLOSED or v.failures]
    return _json({"breakers": [breaker_json(v) for v in views]})


async def reset_breaker(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    body = await _body(request, ReasonBody)
    was = await op.reset_breaker(actor=caller.name, reason=body.reason, key=request.match_info["key"])
    return _json({"reset": True, "was": breaker_json(was)})


async def list_audit(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    q = _query(request, ("actor", "action", "limit", "cursor"))
    page = await op.journal.list_audit(
        actor=q.get("actor"), action=q.get("action"), limit=_limit(q), cursor=_cursor(q)
    )
    return _json({"audit": page.items, "next": page.next})


async def list_incidents(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    q = _query(request, ("status", "since", "limit", "cursor"))
    page = await op.journal.list_incidents(
        status=_enum(q, "status", ("firing", "resolved")),
        since=_since(q, request.app[STATE].clock.now()),
        limit=_limit(q),
        cursor=_cursor(q),
    )
    return _json({"incidents": page.items, "next": page.next})


async def incident_timeline(request: web.Request, caller: Caller, op: Operator) -> web.StreamResponse:
    q = _query(request, ("format",))
    fmt = _enum(q, "format", ("json", "markdown")) or "json"
    incident = request.match_info["id"]
    found = await op.journal.incident_timeline(incident)
    if found is None:
        return error_response(404, f"no incident {incident[:200]!r}")
    timeline = with_durations(found, now=request.app[STATE].clock.now())
    if fmt == "markdown":
        return web.Response(text=postmortem_markdown(timeline), content_type="text/markdown", charset="utf-8")
    return _json(timeline)


async def openapi_document(request: web.Request) -> web.StreamResponse:
    return _json(openapi())


# -- routing ----------------------------------------------------------------------------------------


def _wired(handler: OpHandler, scope: Scope) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @requires(scope)
    @functools.wraps(handler)
    async def run(request: web.Request, caller: Caller) -> web.StreamResponse:
        op = request.app[STATE].operator
        if op is None:
            return error_response(503, "the override API is not wired in this process")
        try:
            return await handler(request, caller, op)
        except OperationRefused as e:
            return error_response(refusal_status(e), str(e), e.detail)
        except JournalUnavailable as e:
            log.error("override not journaled", path=request.path, caller=caller.name, error=str(e))
            return error_response(
                503,
                "journal unavailable: the change may have taken effect unrecorded; check GET status",
                str(e),
            )

    return run


ROUTES: tuple[tuple[str, str, OpHandler, Scope], ...] = (
    ("GET", "/status", status, "read"),
    ("POST", "/pause", pause, "admin"),
    ("POST", "/resume", resume, "admin"),
    ("POST", "/dry-run", dry_run, "admin"),
    ("GET", "/rules", list_rules, "read"),
    ("GET", "/rules/{name}", show_rule, "read"),
    ("POST", "/rules/{name}/trigger", trigger, "read"),  # dry_run false: admin, checked in the handler
    ("POST", "/reload", reload, "admin"),
    ("GET", "/executions", list_executions, "read"),
    ("GET", "/executions/{id}", show_execution, "read"),
    ("GET", "/approvals", list_approvals, "read"),
    ("POST", "/approvals/{id}/approve", approve, "admin"),
    ("POST", "/approvals/{id}/reject", reject, "admin"),
    ("GET", "/breakers", list_breakers, "read"),
    ("POST", "/breakers/{key}/reset", reset_breaker, "admin"),
    ("GET", "/incidents", list_incidents, "read"),
    ("GET", "/incidents/{id}/timeline", incident_timeline, "read"),
    ("GET", "/audit", list_audit, "read"),
)
"""(method, path under /api/v1, handler, scope). The OpenAPI document must list exactly these."""

PUBLIC_ROUTES = (("GET", "/openapi.json"),)
"""Unauthenticated: the document says how to authenticate."""


def add_control_routes(app: web.Application) -> None:
    """Register the override API; `app[STATE]` must be set (handlers read it per request)."""
    for method, path, handler, scope in ROUTES:
        app.router.add_route(method, PREFIX + path, _wired(handler, scope))
    app.router.add_get(PREFIX + "/openapi.json", openapi_document)
