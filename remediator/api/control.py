"""The override API's handlers: on-call takes the wheel (pause, dry-run, trigger, approve, reset, reload)
and reads what was done and why.

Each handler receives a `Call` parsed as its row of the route table declares (routes.py), calls the
`Operator` (override/operator.py) or the journal's read model (store/protocols.py: `ReadModel`), and
returns its response model (api/models.py). Refusals are the operator's domain errors; the wrapper
maps them to statuses:

400 the request is wrong (not JSON, not an object, a missing or invalid field, an unknown key or
query parameter, a target the rule cannot render); 401 no or unknown token; 403 a read token where
admin is needed; 404 no such rule, execution, approval, breaker or incident; 409 the state forbids
it (an approval already decided or expired); 422 a reload found invalid rule files (detail: every
`path:line: msg`); 503 the daemon has no operator wired (tests building a bare app).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from remediator import __version__
from remediator.api import models as m
from remediator.api.apiauth import forbidden
from remediator.api.errors import error_response
from remediator.durations import parse_duration
from remediator.engine.mode import Mode, Pause
from remediator.guards.breaker import CLOSED, BreakerView
from remediator.model import Decision
from remediator.override import BadRequest, NotFound, Recorded
from remediator.override.incidents import postmortem_markdown, with_durations
from remediator.override.manual import alert_for_target, manual_alert
from remediator.rules import Matcher, Rule, Template, Threshold
from remediator.store import readmodel

if TYPE_CHECKING:
    from remediator.api.routes import Call


# -- rendering ----------------------------------------------------------------------------------------


def pause_out(p: Pause | None) -> m.Pause | None:
    if p is None:
        return None
    return m.Pause(by=p.by, reason=p.reason, until=p.until.isoformat() if p.until else None)


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


def _in_dry_run(rule: Rule, mode: Mode) -> bool:
    return rule.name in mode.dry_run_rules or bool(rule.guards.dry_run)


def rule_summary(rule: Rule, mode: Mode, paused: dict[str, Pause]) -> m.RuleSummary:
    return m.RuleSummary(
        name=rule.name,
        description=rule.description,
        severity=rule.severity,
        enabled=rule.enabled,
        source=rule.source,
        actions=[a.kind for a in rule.actions],
        paused=pause_out(paused.get(rule.name)),
        dry_run=_in_dry_run(rule, mode),
    )


def rule_detail(rule: Rule, mode: Mode, paused: dict[str, Pause]) -> m.RuleDetail:
    out = _plain(rule)
    out.pop("source_path", None)
    out.pop("source_line", None)
    out["match"] = out.pop("matchers")
    out["when"] = out.pop("condition")
    out["source"] = rule.source
    out["paused"] = pause_out(paused.get(rule.name))
    out["in_dry_run"] = _in_dry_run(rule, mode)
    return m.RuleDetail.model_validate(out)


def decision_out(d: Decision) -> m.DecisionOut:
    return m.DecisionOut(
        rule=d.rule,
        target=d.target.key if d.target else None,
        actions=[m.ActionOut(kind=a.kind, params=_plain(a.params)) for a in d.actions],
        outcome=d.outcome,
        reason=d.reason,
        dry_run=d.dry_run,
        decided_at=d.decided_at.isoformat(),
        alert=m.DecisionAlert(
            source=d.alert.source,
            fingerprint=d.alert.fingerprint,
            status=d.alert.status,
            labels=dict(d.alert.labels),
            annotations=dict(d.alert.annotations),
            starts_at=d.alert.starts_at.isoformat(),
        ),
    )


def _recorded(r: Recorded) -> dict[str, Any]:
    return {
        "decision": decision_out(r.decision),
        "alert_id": r.alert_id,
        "decision_id": r.decision_id,
        "execution_id": r.execution_id,
    }


def breaker_out(v: BreakerView) -> m.Breaker:
    return m.Breaker(
        key=f"{v.rule}:{v.target}",
        rule=v.rule,
        target=v.target,
        state=v.state,
        failures=v.failures,
        opened_at=v.opened_at.isoformat() if v.opened_at else None,
        half_open_at=v.half_open_at.isoformat() if v.half_open_at else None,
    )


def _approval(row: dict[str, Any]) -> m.Approval:
    return m.Approval.model_validate(readmodel.approval_json(row))


# -- handlers -------------------------------------------------------------------------------------------


async def status(call: Call) -> m.Status:
    op, state = call.op, call.state
    mode = state.mode
    paused, per_rule = op.active_pauses()
    op.refresh_metrics()
    overall: m.RunMode
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
    return m.Status(
        mode=overall,
        version=__version__,
        caller=m.Caller(name=call.caller.name, scope=call.caller.scope),
        paused=pause_out(paused),
        paused_rules={name: p for name, pause in sorted(per_rule.items()) if (p := pause_out(pause))},
        dry_run=m.DryRunState(
            global_=bool(mode.dry_run or mode.no_cluster), reason=dry_reason, rules=sorted(mode.dry_run_rules)
        ),
        rules=m.RulesState(
            loaded=len(rules),
            enabled=sum(1 for r in rules if r.enabled),
            files=[str(f) for f in rules.files],
            last_reload=op.last_reload,
        ),
        breakers=m.BreakersState(
            open=sum(1 for v in views if v.state == "open"),
            half_open=sum(1 for v in views if v.state == "half_open"),
            not_closed=[breaker_out(v) for v in views if v.state != CLOSED],
        ),
        journal=m.JournalState(
            healthy=journal_ok and backlog < limit,
            error=journal_error,
            backlog=backlog,
            max_backlog=limit,
            write_errors=state.metrics.registry.get_sample_value("remediator_journal_errors_total"),
        ),
        kubernetes=m.KubernetesState(
            connected=state.kube_ready(),
            dry_run_reason=f"no Kubernetes cluster reachable ({mode.no_cluster})"
            if mode.no_cluster
            else None,
        ),
    )


async def pause(call: Call) -> m.PauseResult:
    body = call.body_as(m.PauseRequest)
    for_s = None
    if body.for_ is not None:
        try:
            for_s = parse_duration(body.for_)
        except ValueError as e:
            raise BadRequest(f"for: {e}") from None
        if for_s <= 0:
            raise BadRequest("for: a pause must last longer than 0s (leave `for` out for no expiry)")
    p = await call.op.pause(actor=call.caller.name, reason=body.reason, rule=body.rule, for_s=for_s)
    return m.PauseResult(paused=True, rule=body.rule, pause=pause_out(p))


async def resume(call: Call) -> m.ResumeResult:
    body = call.body_as(m.ResumeRequest)
    lifted = await call.op.resume(actor=call.caller.name, reason=body.reason, rule=body.rule)
    return m.ResumeResult(
        paused=False, rule=body.rule, was_paused=lifted is not None, lifted=pause_out(lifted)
    )


async def dry_run(call: Call) -> m.DryRunResult:
    body = call.body_as(m.DryRunRequest)
    changed = await call.op.set_dry_run(
        actor=call.caller.name, reason=body.reason, enabled=body.enabled, rule=body.rule
    )
    mode = call.state.mode
    note = None
    if body.rule is None and not body.enabled and mode.no_cluster:
        note = f"every action still runs as dry-run: no Kubernetes cluster reachable ({mode.no_cluster})"
    return m.DryRunResult(enabled=body.enabled, rule=body.rule, changed=changed, note=note)


async def list_rules(call: Call) -> m.RuleList:
    _, per_rule = call.op.active_pauses()
    mode = call.state.mode
    rules = call.op.rules()
    return m.RuleList(
        rules=[rule_summary(r, mode, per_rule) for r in rules], files=[str(f) for f in rules.files]
    )


async def show_rule(call: Call) -> m.RuleDetail:
    rule = call.op.rule(call.path_as(m.RulePath).name)
    _, per_rule = call.op.active_pauses()
    return rule_detail(rule, call.state.mode, per_rule)


async def reload(call: Call) -> m.ReloadResult:
    body = call.body_as(m.ReloadRequest)
    result = await call.op.reload(
        actor=call.caller.name, reason=body.reason or "reload requested over the API"
    )
    return m.ReloadResult(
        result="success",
        rules=result.rules,
        files=result.files,
        added=result.added,
        removed=result.removed,
        changed=result.changed,
    )


async def trigger(call: Call) -> m.Recorded | web.StreamResponse:
    body = call.body_as(m.TriggerRequest)
    op, caller = call.op, call.caller
    rule = op.rule(call.path_as(m.RulePath).name)
    if (body.alert is None) == (body.target is None):
        raise BadRequest("send exactly one of 'alert' (labels, annotations) or 'target' (namespace, name)")
    if not body.dry_run and not caller.may("admin"):
        return forbidden(caller, "a trigger with dry_run false")
    now = call.state.clock.now()
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
    return m.Recorded(**_recorded(recorded))


async def list_executions(call: Call) -> m.ExecutionPage:
    q = call.query_as(m.ExecutionsQuery)
    page = await call.op.journal.list_executions(
        rule=q.rule,
        target=q.target,
        status=q.outcome.value if q.outcome else None,
        since=q.since,
        limit=q.limit,
        cursor=q.cursor,
    )
    return m.ExecutionPage.model_validate({"executions": page.items, "next": page.next})


async def show_execution(call: Call) -> m.Execution:
    execution_id = call.path_as(m.ExecutionPath).id
    found = await call.op.journal.get_execution(execution_id)
    if found is None:
        raise NotFound(f"no execution #{execution_id}")
    return m.Execution.model_validate(found)


async def list_approvals(call: Call) -> m.ApprovalList:
    q = call.query_as(m.ApprovalsQuery)
    items = await call.op.journal.list_approvals(status=q.status.value if q.status else None, limit=q.limit)
    return m.ApprovalList.model_validate({"approvals": items})


async def approve(call: Call) -> m.ApproveResult:
    approval_id = call.path_as(m.ApprovalPath).id
    body = call.body_as(m.OptionalReasonRequest)
    approval, recorded = await call.op.approve(
        actor=call.caller.name, approval_id=approval_id, reason=body.reason
    )
    return m.ApproveResult(approval=_approval(approval), **_recorded(recorded))


async def reject(call: Call) -> m.RejectResult:
    approval_id = call.path_as(m.ApprovalPath).id
    body = call.body_as(m.ReasonRequest)
    approval = await call.op.reject(actor=call.caller.name, approval_id=approval_id, reason=body.reason)
    return m.RejectResult(approval=_approval(approval))


async def list_breakers(call: Call) -> m.BreakerList:
    # A closed breaker with no failure is the same as none: only those with something to say are listed.
    views = [v for v in call.op.breaker_views() if v.state != CLOSED or v.failures]
    return m.BreakerList(breakers=[breaker_out(v) for v in views])


async def reset_breaker(call: Call) -> m.ResetResult:
    body = call.body_as(m.ReasonRequest)
    key = call.path_as(m.BreakerPath).key
    was = await call.op.reset_breaker(actor=call.caller.name, reason=body.reason, key=key)
    return m.ResetResult(reset=True, was=breaker_out(was))


async def list_audit(call: Call) -> m.AuditPage:
    q = call.query_as(m.AuditQuery)
    page = await call.op.journal.list_audit(actor=q.actor, action=q.action, limit=q.limit, cursor=q.cursor)
    return m.AuditPage.model_validate({"audit": page.items, "next": page.next})


async def list_incidents(call: Call) -> m.IncidentPage:
    q = call.query_as(m.IncidentsQuery)
    page = await call.op.journal.list_incidents(
        status=q.status.value if q.status else None, since=q.since, limit=q.limit, cursor=q.cursor
    )
    return m.IncidentPage.model_validate({"incidents": page.items, "next": page.next})


async def incident_timeline(call: Call) -> m.Timeline | web.StreamResponse:
    fmt = call.query_as(m.TimelineQuery).format
    incident = call.path_as(m.IncidentPath).id
    found = await call.op.journal.incident_timeline(incident)
    if found is None:
        return error_response(404, f"no incident {incident[:200]!r}")
    timeline = with_durations(found, now=call.state.clock.now())
    if fmt is m.TimelineFormat.MARKDOWN:
        return web.Response(text=postmortem_markdown(timeline), content_type="text/markdown", charset="utf-8")
    return m.Timeline.model_validate(timeline)
