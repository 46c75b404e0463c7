"""The console's read-only pages: now, incidents (with a timeline and a postmortem), approvals
(each planned against the cluster), decisions, controls and the audit trail. Each reads the read
model or the override service, the same ones the API uses.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from remediator.api.console import (
    inputs,
    view_approvals,
    view_controls,
    view_history,
    view_now,
    views,
)
from remediator.api.console.context import MAX_LIST, MAX_PREVIEWS, SECURITY_HEADERS, Ctx, console
from remediator.api.console.timeline import incident_page
from remediator.logs import get_logger
from remediator.model import Outcome
from remediator.override.incidents import postmortem_markdown, with_durations
from remediator.store.readmodel import incident_id

log = get_logger("remediator.console")


@runtime_checkable
class _Deferrals(Protocol):
    async def deferrals(self, *, limit: int = 100) -> list[Any]: ...


def _mode(ctx: Ctx) -> views.ModeView:
    mode = ctx.state.mode
    paused, per_rule = ctx.op.active_pauses()
    if mode.no_cluster:
        dry_reason: str | None = f"no Kubernetes cluster reachable ({mode.no_cluster})"
    elif mode.dry_run:
        dry_reason = "global dry-run is on"
    else:
        dry_reason = None
    overall = "paused" if paused is not None else "dry-run" if dry_reason else "running"
    return views.ModeView(
        overall=overall,
        paused=paused,
        paused_rules=per_rule,
        dry_run_reason=dry_reason,
        dry_run_rules=sorted(mode.dry_run_rules),
    )


async def _open_incidents(ctx: Ctx) -> list[dict[str, Any]]:
    """Firing incidents, newest first, from the first pages of episodes (status filters after paging)."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):
        page_ = await ctx.op.journal.list_incidents(status="firing", limit=MAX_LIST, cursor=cursor)
        found += page_.items
        cursor = page_.next
        if cursor is None or len(found) >= MAX_LIST:
            break
    return found[:MAX_LIST]


async def _pending(ctx: Ctx) -> list[dict[str, Any]]:
    return await ctx.op.journal.list_approvals(status="pending", limit=MAX_LIST)


@console()
async def now_page(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    journal = ctx.op.journal
    approvals = await _pending(ctx)
    incidents = await _open_incidents(ctx)
    deferrals = await journal.deferrals(limit=MAX_LIST) if isinstance(journal, _Deferrals) else None
    try:
        await journal.ping()
        journal_ok = True
    except Exception:  # the status page must answer even when the journal does not
        journal_ok = False
    health = {
        "backlog": journal.backlog(),
        "journal_ok": journal_ok,
        "kube": ctx.state.kube_ready(),
        "rules": len(ctx.op.rules()),
    }
    breakers = [v for v in ctx.op.breaker_views() if v.state != "closed"]
    body = view_now.now_page(
        mode=_mode(ctx),
        approvals=approvals,
        incidents=incidents,
        deferrals=deferrals,
        breakers=breakers,
        health=health,
        actor=ctx.actor,
        now=ctx.now,
    )
    return ctx.page("Now", body, active="/ui/", refresh=True, pending=len(approvals))


@console()
async def incidents_page(ctx: Ctx) -> web.StreamResponse:
    q = inputs.query(ctx.request, ("status", "cursor"))
    status = q.get("status", "")
    if status not in ("", "firing", "resolved"):
        raise inputs.BadInput(f"status must be firing or resolved, not {status[:40]!r}")
    try:
        listed = await ctx.op.journal.list_incidents(status=status or None, limit=50, cursor=q.get("cursor"))
    except ValueError as e:  # a cursor we did not give out
        raise inputs.BadInput(str(e)) from None
    body = view_now.incidents_page(listed.items, status=status, next_cursor=listed.next, now=ctx.now)
    return ctx.page("Incidents", body, active="/ui/incidents", pending=len(await _pending(ctx)))


async def _timeline(ctx: Ctx) -> dict[str, Any]:
    incident = ctx.request.match_info["id"]
    if len(incident) > 300:
        raise inputs.BadInput("incident id too long")
    found = await ctx.op.journal.incident_timeline(incident)
    if found is None:
        raise inputs.BadInput(f"no incident {incident[:200]!r}", 404)
    return with_durations(found, now=ctx.now)


@console()
async def incident(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    timeline = await _timeline(ctx)
    alert_ids = {e.get("alert_id") for e in timeline.get("events", []) if e["type"] == "alert"}
    pending = await _pending(ctx)
    mine = [a for a in pending if a.get("alert_id") in alert_ids]
    body = incident_page(timeline, postmortem=postmortem_markdown(timeline), pending=mine, now=ctx.now)
    return ctx.page(
        str(timeline.get("title") or "Incident"),
        body,
        active="/ui/incidents",
        refresh=True,
        pending=len(pending),
    )


@console()
async def postmortem(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    timeline = await _timeline(ctx)
    return web.Response(
        text=postmortem_markdown(timeline),
        content_type="text/markdown",
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="postmortem.md"'},
    )


async def _pending_view(ctx: Ctx, approval: dict[str, Any]) -> view_approvals.PendingApproval:
    preview = await ctx.op.preview(approval)
    rule = ctx.op.rules().get(approval["rule"])
    alert_id = approval.get("alert_id")
    alert = await ctx.op.journal.get_alert(alert_id) if alert_id is not None else None
    return view_approvals.PendingApproval(
        approval=approval,
        preview=preview,
        description=rule.description if rule is not None else "",
        incident=incident_id(alert.fingerprint, alert.starts_at.timestamp()) if alert is not None else None,
        alert_summary=(alert.annotations.get("summary") or alert.name) if alert is not None else "",
    )


@console()
async def approvals_page(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    journal = ctx.op.journal
    pending = await _pending(ctx)
    shown = await asyncio.gather(*(_pending_view(ctx, a) for a in pending[:MAX_PREVIEWS]))
    decided = [a for a in await journal.list_approvals(limit=50) if a["status"] != "pending"][:20]
    body = view_approvals.approvals_page(shown, decided, ctx.actor, ctx.now)
    return ctx.page("Approvals", body, active="/ui/approvals", refresh=True, pending=len(pending))


_OUTCOMES = tuple(o.value for o in Outcome)


@console()
async def decisions_page(ctx: Ctx) -> web.StreamResponse:
    q = inputs.query(ctx.request, ("rule", "outcome", "target", "cursor"))
    chosen = {k: q[k].strip() for k in ("rule", "outcome", "target") if q.get(k, "").strip()}
    if chosen.get("outcome") and chosen["outcome"] not in _OUTCOMES:
        raise inputs.BadInput(
            f"outcome must be one of {', '.join(_OUTCOMES)}, not {chosen['outcome'][:40]!r}"
        )
    if len(chosen.get("target", "")) > 300 or len(chosen.get("rule", "")) > 253:
        raise inputs.BadInput("rule or target too long")
    try:
        listed = await ctx.op.journal.list_decisions(
            rule=chosen.get("rule"),
            outcome=chosen.get("outcome"),
            target=chosen.get("target"),
            limit=50,
            cursor=q.get("cursor"),
        )
    except ValueError as e:
        raise inputs.BadInput(str(e)) from None
    body = view_history.decisions_page(
        listed.items,
        rules=ctx.op.rules().names(),
        outcomes=_OUTCOMES,
        chosen=chosen,
        next_cursor=listed.next,
        now=ctx.now,
    )
    return ctx.page("Decisions", body, active="/ui/decisions", pending=len(await _pending(ctx)))


@console()
async def controls_page(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    body = view_controls.controls_page(
        mode=_mode(ctx), rules=ctx.op.rules().names(), actor=ctx.actor, now=ctx.now
    )
    return ctx.page("Controls", body, active="/ui/controls", pending=len(await _pending(ctx)))


@console()
async def audit_page(ctx: Ctx) -> web.StreamResponse:
    q = inputs.query(ctx.request, ("cursor",))
    try:
        listed = await ctx.op.journal.list_audit(limit=50, cursor=q.get("cursor"))
    except ValueError as e:
        raise inputs.BadInput(str(e)) from None
    body = view_history.audit_page(listed.items, next_cursor=listed.next, now=ctx.now)
    return ctx.page("Audit", body, active="/ui/audit", pending=len(await _pending(ctx)))
