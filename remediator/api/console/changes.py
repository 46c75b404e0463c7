"""The console's forms that change something: approve, reject, pause, resume, dry-run and a breaker
reset. Each needs an admin session, calls the override service with the reason given, and redirects
to a page that says what it did (Post/Redirect/Get).
"""

from __future__ import annotations

from aiohttp import web

from remediator.api.console import inputs
from remediator.api.console.context import Ctx, console
from remediator.durations import parse_duration
from remediator.logs import get_logger

log = get_logger("remediator.console")


def _reason(ctx: Ctx, *, required: bool) -> str:
    reason = ctx.form.get("reason", "").strip()
    if required and not reason:
        raise inputs.BadInput("a reason is required: it goes in the audit trail with your name")
    if len(reason) > 2000:
        raise inputs.BadInput("the reason is too long (at most 2000 characters)")
    return reason


def _rule(ctx: Ctx) -> str | None:
    name = ctx.form.get("rule", "").strip()
    return name or None


@console(scope="admin", fields=("reason",))
async def approve(ctx: Ctx) -> web.StreamResponse:
    approval_id = inputs.positive_id(ctx.request.match_info["id"], "approval")
    approval, recorded = await ctx.op.approve(
        actor=ctx.session.caller.name, approval_id=approval_id, reason=_reason(ctx, required=False)
    )
    d = recorded.decision
    started = f"execution #{recorded.execution_id} started" if recorded.execution_id else "nothing runs"
    kind = "ok" if d.acts else "warn"
    return ctx.done(
        "/ui/approvals",
        f"Approved #{approval_id} ({approval['rule']} on {approval['target']}): decided {d.outcome.value}, "
        f"{started}. {d.reason}",
        kind,
    )


@console(scope="admin", fields=("reason",))
async def reject(ctx: Ctx) -> web.StreamResponse:
    approval_id = inputs.positive_id(ctx.request.match_info["id"], "approval")
    approval = await ctx.op.reject(
        actor=ctx.session.caller.name, approval_id=approval_id, reason=_reason(ctx, required=True)
    )
    return ctx.done("/ui/approvals", f"Rejected #{approval_id} ({approval['rule']} on {approval['target']}).")


@console(scope="admin", fields=("rule", "for", "reason"))
async def pause(ctx: Ctx) -> web.StreamResponse:
    reason = _reason(ctx, required=True)
    text = ctx.form.get("for", "").strip()
    for_s = None
    if text:
        try:
            for_s = parse_duration(text)
        except ValueError as e:
            raise inputs.BadInput(f"for: {e}") from None
        if for_s <= 0:
            raise inputs.BadInput("for: a pause must last longer than 0s (choose 'until resumed' for no end)")
    rule = _rule(ctx)
    p = await ctx.op.pause(actor=ctx.session.caller.name, reason=reason, rule=rule, for_s=for_s)
    what = f"rule {rule}" if rule else "everything"
    until = f" until {p.until:%H:%M UTC}" if p.until else " until resumed"
    return ctx.done("/ui/controls", f"Paused {what}{until}.", "warn")


@console(scope="admin", fields=("rule", "reason"))
async def resume(ctx: Ctx) -> web.StreamResponse:
    rule = _rule(ctx)
    lifted = await ctx.op.resume(actor=ctx.session.caller.name, reason=_reason(ctx, required=True), rule=rule)
    what = f"rule {rule}" if rule else "everything"
    return ctx.done("/ui/controls", f"Resumed {what}." if lifted else f"{what} was not paused.")


@console(scope="admin", fields=("rule", "enabled", "reason"))
async def dry_run(ctx: Ctx) -> web.StreamResponse:
    enabled_text = ctx.form.get("enabled", "")
    if enabled_text not in ("on", "off"):
        raise inputs.BadInput(f"enabled must be on or off, not {enabled_text[:20]!r}")
    rule = _rule(ctx)
    changed = await ctx.op.set_dry_run(
        actor=ctx.session.caller.name,
        reason=_reason(ctx, required=True),
        enabled=enabled_text == "on",
        rule=rule,
    )
    what = f"rule {rule}" if rule else "everything"
    note = "" if changed else " (it already was)"
    extra = ""
    if rule is None and enabled_text == "off" and ctx.state.mode.no_cluster:
        extra = f" Every action still runs as dry-run: no Kubernetes cluster ({ctx.state.mode.no_cluster})."
    return ctx.done("/ui/controls", f"Dry-run {enabled_text} for {what}{note}.{extra}", "info")


@console(scope="admin", fields=("key", "reason"))
async def reset_breaker(ctx: Ctx) -> web.StreamResponse:
    key = ctx.form.get("key", "")
    was = await ctx.op.reset_breaker(
        actor=ctx.session.caller.name, reason=_reason(ctx, required=True), key=key
    )
    return ctx.done("/ui/", f"Breaker {was.rule} → {was.target} reset (it was {was.state}).")
