"""The compiled `Rule`: what the engine holds for each rule, frozen and ready to evaluate.

`compile_rule` turns a validated `RuleModel` (schema.py) into a `Rule` whose matchers,
condition and templates are parsed once at load time, and whose durations are float seconds.
Per-alert work is then only lookups: `matches`, `check_condition`, `render_target`,
`render_actions`, none of which raises for bad alert input; they return reasons instead.

Action params after compilation (`Rule.actions[i].params`, plain dicts, every key present).
Keys are the ones written in the rule file (as `ActionSpec` promises); durations are float
seconds:

* rollout_restart: `{"unless_rolled_out_within": float | None}`
* rollout_undo: `{"only_if_rolled_out_within": float | None, "to_revision": int | None}`
* scale: `{"to": int | None, "by": int | None, "factor": float | None, "min": int,
  "max": int | None, "allow_zero": bool}`; exactly one of to/by/factor is set; `min` defaults
  to 1 (0 with allow_zero); `max` is always set when the action can grow the workload.
* set_env: `{"name": str, "value": str, "container": str | None}` (None: the first container)
* delete_pod: `{"selector": str | None, "pod": str | None, "max": int, "force": "delete" | None}`;
  at most one of selector/pod; neither means the target workload's own pods (its selector);
  force None evicts (PodDisruptionBudgets respected), "delete" deletes.
* set_image: `{"image": str, "container": str | None}` (None: the only container)
* pause_rollout: `{"undo_if_firing_after": float | None}`; resume_rollout: `{}`
* run_job: `{"image": str, "command": [str], "env": {name: str | {"secret": str, "key": str}},
  "service_account": str | None, "resources": {"requests": {...}, "limits": {...}},
  "active_deadline": float, "ttl_after_finished": float, "wait": float, "log_lines": int,
  "run_as_non_root": bool}`; `wait` defaults to active_deadline + 60s
* http_request: `{"method": str, "url": str, "headers": {name: str | {"env"|"file": str,
  "prefix": str}}, "body": Any, "expect_status": [int], "timeout": float}`

String params may hold `{{ labels.x }}` templates: `Rule.actions` keeps them as written (for
audit and `rules show`), and `Rule.render_actions(alert)` gives the concrete, validated values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from remediator.kubenames import is_dns1123_subdomain, is_env_var_name, label_selector_problem
from remediator.model import ActionSpec, Alert, AlertStatus, EscalationStep, RuleName, Target
from remediator.rules.checks import HttpCheck, MetricCheck, compile_http_check
from remediator.rules.matchers import Matcher, parse_matchers
from remediator.rules.schema import ActionModel, RuleModel
from remediator.rules.steps import image_problem, job_arg_problem
from remediator.rules.templates import (
    RenderError,
    TargetTemplate,
    Template,
    render_target,
)
from remediator.rules.thresholds import ConditionResult, Threshold, parse_threshold
from remediator.rules.urls import UrlTemplate

RuleStatus = Literal["firing", "resolved", "any"]

_NO_CONDITION = ConditionResult(True, "no condition")


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxActions:
    count: int
    per_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    failures: int
    reset_after_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    attempts: int
    """Total attempts, the first included."""
    backoff_min_s: float | None = None
    backoff_max_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleGuards:
    """The rule's guard overrides; None everywhere means: use the global default from settings."""

    cooldown_s: float | None = None
    max_actions: MaxActions | None = None
    breaker: BreakerPolicy | None = None
    retry: RetryPolicy | None = None
    approval: bool | None = None
    dry_run: bool | None = None
    max_alert_age_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifySpec:
    rollout_complete_within_s: float | None = None
    resolved_within_s: float | None = None
    healthy: HttpCheck | None = None
    healthy_within_s: float | None = None
    metric: MetricCheck | None = None

    @property
    def window_s(self) -> float:
        """The longest wait verification may take (0 when it waits for nothing)."""
        return max(
            self.rollout_complete_within_s or 0.0,
            self.resolved_within_s or 0.0,
            self.healthy_within_s or 0.0,
            self.metric.within_s if self.metric is not None else 0.0,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SilenceSpec:
    duration_s: float | None = None
    labels: tuple[str, ...] = ()
    """Empty: all of the alert's labels."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmSpec:
    """Re-check before acting: a PromQL query and its condition, or a health check that must fail.
    Evaluated by a later stage, validated here."""

    query: Template | None = None
    when: Threshold | None = None
    http: HttpCheck | None = None
    on_unreachable: Literal["skip", "act"] = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUp:
    """One `on_failure` step (escalate, notify, webhook) with its params as written."""

    kind: str
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One loaded rule. Immutable; equality is by value, hashing by name and source position."""

    name: RuleName
    description: str
    severity: str
    source_path: Path
    source_line: int
    matchers: tuple[Matcher, ...]
    condition: Threshold | None
    status: RuleStatus
    target: TargetTemplate
    actions: tuple[ActionSpec, ...]
    guards: RuleGuards
    verify: VerifySpec | None
    on_failure: tuple[FollowUp, ...]
    confirm: ConfirmSpec | None
    enabled: bool = True
    silence: SilenceSpec | None = None
    notify_channel: str | None = None
    escalation: tuple[EscalationStep, ...] | None = None
    """The rule's own escalation ladder; None: its severity's, from the config."""
    updates_every_s: float | None = None
    updates_channel: str | None = None
    watch_s: float | None = None
    """After its incident resolves, watch this long for a re-fire (None: the config's `incidents.watch`)."""

    def __hash__(self) -> int:
        # Params are dicts (unhashable); a name is unique in a rule set, the position disambiguates reloads.
        return hash((self.name, self.source_path, self.source_line))

    @property
    def source(self) -> str:
        """`path:line`, for messages and the API."""
        return f"{self.source_path}:{self.source_line}"

    def matches(self, alert: Alert) -> bool:
        """All matchers hold for the alert's labels (missing label == "")."""
        labels = alert.labels
        return all(m.matches(labels) for m in self.matchers)

    def triggers_on(self, status: AlertStatus) -> bool:
        """Whether an alert with this status should run the actions (`status:` in the rule)."""
        return self.status == "any" or self.status == status

    def check_condition(self, alert: Alert) -> ConditionResult:
        """The `when:` threshold; holds trivially when the rule has none. Never raises."""
        if self.condition is None:
            return _NO_CONDITION
        return self.condition.evaluate(alert)

    def render_target(self, alert: Alert) -> Target | str:
        """The concrete target, or the reason there is none (missing label, invalid name)."""
        return render_target(self.target, alert)

    def render_actions(self, alert: Alert) -> tuple[ActionSpec, ...] | str:
        """The actions with templates filled in and validated, or the reason they cannot be."""
        if not any(_renders(spec) for spec in self.actions):
            return self.actions  # nothing to fill in: the actions as written (params are read-only)
        rendered: list[ActionSpec] = []
        for i, spec in enumerate(self.actions):
            params = render_params(spec, alert)
            if isinstance(params, str):
                return f"action {i} ({spec.kind}) {params}"
            rendered.append(ActionSpec(kind=spec.kind, params=params))
        return tuple(rendered)


# Which string params of each action kind may hold templates (validated again after rendering).
_TEMPLATED: dict[str, tuple[str, ...]] = {
    "set_env": ("name", "value"),
    "delete_pod": ("selector", "pod"),
    "set_image": ("image",),
}


def _renders(spec: ActionSpec) -> bool:
    """Whether `render_params` would fill in or check anything for `spec` (else it returns a copy)."""
    if spec.kind == "http_request" or spec.kind == "run_job":
        return True
    params = spec.params
    return any(params.get(key) is not None for key in _TEMPLATED.get(spec.kind, ()))


def render_params(spec: ActionSpec, alert: Alert) -> dict[str, Any] | str:
    """One action's params for this alert, or `"<param>: <why not>"`. Never raises."""
    params = dict(spec.params)
    for key in _TEMPLATED.get(spec.kind, ()):
        source = params.get(key)
        if source is None:
            continue
        value = Template.parse(source).render(alert)
        if isinstance(value, RenderError):
            return f"{key}: {value.reason}"
        problem = _check_rendered(spec.kind, key, value)
        if problem:
            return f"{key}: {problem}"
        params[key] = value
    if spec.kind == "http_request":
        url = UrlTemplate.parse(str(params["url"])).render(alert)
        if isinstance(url, RenderError):
            return f"url: {url.reason}"
        params["url"] = url
    if spec.kind == "run_job":
        command = list(params["command"])
        for n, arg in enumerate(command):
            value = _render_job_value(arg, alert)
            if isinstance(value, RenderError):
                return f"command[{n}]: {value.reason}"
            command[n] = value
        env = dict(params["env"])
        for name, raw in env.items():
            if isinstance(raw, str):
                value = _render_job_value(raw, alert)
                if isinstance(value, RenderError):
                    return f"env {name}: {value.reason}"
                env[name] = value
        params["command"], params["env"] = command, env
    return params


def _render_job_value(source: str, alert: Alert) -> str | RenderError:
    """The rendered Job argument or env value, or why it is refused. Literal values pass as written."""
    template = Template.parse(source)
    if template.is_literal:
        return source
    value = template.render(alert)
    if isinstance(value, RenderError):
        return value
    if problem := job_arg_problem(value):
        return RenderError(f"rendered value {problem}")
    return value


def _check_rendered(kind: str, key: str, value: str) -> str | None:
    if kind == "set_env" and key == "name" and not is_env_var_name(value):
        return f"rendered {value!r} is not a valid environment variable name"
    if kind == "delete_pod" and key == "pod" and not is_dns1123_subdomain(value):
        return f"rendered {value!r} is not a valid pod name"
    if kind == "delete_pod" and key == "selector" and (problem := label_selector_problem(value)):
        return f"rendered selector {value!r}: {problem}"
    if kind == "set_image" and (problem := image_problem(value)):
        return f"rendered {problem}"
    return None


def compile_rule(model: RuleModel, *, source_path: Path, source_line: int) -> Rule:
    """Build the frozen Rule from a validated model. Parsing cannot fail here: schema.py checked it."""
    g = model.guards
    guards = RuleGuards(
        cooldown_s=g.cooldown,
        max_actions=MaxActions(count=g.max_actions.count, per_s=g.max_actions.per) if g.max_actions else None,
        breaker=(
            BreakerPolicy(failures=g.circuit_breaker.failures, reset_after_s=g.circuit_breaker.reset_after)
            if g.circuit_breaker
            else None
        ),
        retry=(
            RetryPolicy(
                attempts=g.retry.attempts,
                backoff_min_s=g.retry.backoff[0] if g.retry.backoff else None,
                backoff_max_s=g.retry.backoff[1] if g.retry.backoff else None,
            )
            if g.retry
            else None
        ),
        approval=g.approval,
        dry_run=g.dry_run,
        max_alert_age_s=g.max_alert_age,
    )
    confirm = None
    if model.confirm is not None:
        c = model.confirm
        confirm = ConfirmSpec(
            query=Template.parse(c.query) if c.query is not None else None,
            when=parse_threshold(c.when) if c.when is not None else None,
            http=compile_http_check(c.http) if c.http is not None else None,
            on_unreachable=c.on_unreachable,
        )
    verify = None
    if model.verify is not None:
        v = model.verify
        verify = VerifySpec(
            rollout_complete_within_s=v.rollout_complete_within,
            resolved_within_s=v.resolved_within,
            healthy=compile_http_check(v.healthy.http) if v.healthy is not None else None,
            healthy_within_s=v.healthy.within if v.healthy is not None else None,
            metric=(
                MetricCheck(
                    query=Template.parse(v.metric.query), below=v.metric.below, within_s=v.metric.within
                )
                if v.metric is not None
                else None
            ),
        )
    return Rule(
        name=RuleName(model.name),
        description=model.description,
        severity=model.severity,
        source_path=source_path,
        source_line=source_line,
        matchers=tuple(m for item in model.match for m in parse_matchers(item)),
        condition=parse_threshold(model.when) if model.when is not None else None,
        status=model.status,
        target=TargetTemplate(
            kind=model.target.kind,
            namespace=Template.parse(model.target.namespace),
            name=Template.parse(model.target.name),
        ),
        actions=tuple(_compile_action(a) for a in model.actions),
        guards=guards,
        verify=verify,
        silence=(
            SilenceSpec(duration_s=model.silence.duration, labels=tuple(model.silence.labels or ()))
            if model.silence is not None
            else None
        ),
        notify_channel=model.notify.channel if model.notify is not None else None,
        escalation=(
            tuple(EscalationStep(after_s=e.after, page=e.page, notify=e.notify) for e in model.escalation)
            if model.escalation is not None
            else None
        ),
        updates_every_s=model.updates.every if model.updates is not None else None,
        updates_channel=model.updates.channel if model.updates is not None else None,
        watch_s=model.watch,
        on_failure=tuple(FollowUp(kind=f.kind, params=dict(getattr(f, f.kind))) for f in model.on_failure),
        confirm=confirm,
        enabled=model.enabled,
    )


def _compile_action(action: ActionModel) -> ActionSpec:
    if action.rollout_restart is not None:
        p = action.rollout_restart
        return ActionSpec(
            kind="rollout_restart", params={"unless_rolled_out_within": p.unless_rolled_out_within}
        )
    if action.rollout_undo is not None:
        u = action.rollout_undo
        return ActionSpec(
            kind="rollout_undo",
            params={"only_if_rolled_out_within": u.only_if_rolled_out_within, "to_revision": u.to_revision},
        )
    if action.scale is not None:
        s = action.scale
        default_min = 0 if s.allow_zero else 1
        return ActionSpec(
            kind="scale",
            params={
                "to": s.to,
                "by": s.by,
                "factor": s.factor,
                "min": s.min if s.min is not None else default_min,
                "max": s.max,
                "allow_zero": s.allow_zero,
            },
        )
    if action.set_env is not None:
        e = action.set_env
        return ActionSpec(kind="set_env", params={"name": e.name, "value": e.value, "container": e.container})
    if action.delete_pod is not None:
        d = action.delete_pod
        return ActionSpec(
            kind="delete_pod", params={"selector": d.selector, "pod": d.pod, "max": d.max, "force": d.force}
        )
    if action.set_image is not None:
        return ActionSpec(
            kind="set_image",
            params={"image": action.set_image.image, "container": action.set_image.container},
        )
    if action.pause_rollout is not None:
        return ActionSpec(
            kind="pause_rollout", params={"undo_if_firing_after": action.pause_rollout.undo_if_firing_after}
        )
    if action.resume_rollout is not None:
        return ActionSpec(kind="resume_rollout", params={})
    if action.run_job is not None:
        j = action.run_job
        return ActionSpec(
            kind="run_job",
            params={
                "image": j.image,
                "command": list(j.command),
                "env": {
                    k: (v if isinstance(v, str) else {"secret": v.secret, "key": v.key})
                    for k, v in j.env.items()
                },
                "service_account": j.service_account,
                "resources": j.resources.model_dump(exclude_none=True),
                "active_deadline": j.active_deadline,
                "ttl_after_finished": j.ttl_after_finished,
                "wait": j.wait if j.wait is not None else j.active_deadline + 60.0,
                "log_lines": j.log_lines,
                "run_as_non_root": j.run_as_non_root,
            },
        )
    h = action.http_request
    assert h is not None
    return ActionSpec(
        kind="http_request",
        params={
            "method": h.method,
            "url": h.url,
            "headers": {k: (v if isinstance(v, str) else v.model_dump()) for k, v in h.headers.items()},
            "body": h.body,
            "expect_status": list(h.expect_status),
            "timeout": h.timeout,
        },
    )
