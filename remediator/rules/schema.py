"""The shape of one rule in a rule file, as pydantic models (the loader validates each rule alone).

Every model forbids unknown keys, so `cooldwon: 15m` is an error rather than a silently
missing guard, and is strict, so `approval: "no"` is not quietly coerced. Field validators
parse matchers, conditions, templates and durations here, so a bad one is reported with the
location of its own YAML node. Checks that need two fields (a `rollout_undo` on a
StatefulSet) are in `cross_checks`, which returns locations too.

These models are the file format; `compiled.py` turns a valid one into the frozen `Rule`
the engine uses.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from remediator.durations import parse_duration, parse_duration_range
from remediator.kubenames import is_dns1123_label, is_env_var_name, label_selector_problem
from remediator.model import ACTION_KINDS, ActionKind
from remediator.rules.matchers import parse_matchers
from remediator.rules.steps import (
    HealthyModel,
    HttpCheckModel,
    HttpRequestParams,
    MetricModel,
    PauseRolloutParams,
    ResumeRolloutParams,
    RunJobParams,
    SetImageParams,
)
from remediator.rules.templates import Template, check_name_template
from remediator.rules.thresholds import parse_threshold
from remediator.severity import check_severity

FOLLOW_UP_KINDS = ("escalate", "notify", "webhook")
Loc = tuple[str | int, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- scalar types ---------------------------------------------------------------------------


def _duration(v: Any) -> float:
    return parse_duration(v)


def _positive_duration(v: Any) -> float:
    seconds = parse_duration(v)
    if seconds <= 0:
        raise ValueError(f"duration {v!r} must be greater than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]
PositiveDuration = Annotated[float, BeforeValidator(_positive_duration)]
DurationRange = Annotated[tuple[float, float], BeforeValidator(parse_duration_range)]


def _rule_name(v: str) -> str:
    if not is_dns1123_label(v):
        raise ValueError(f"rule name {v!r} must be lowercase letters, digits and '-' (at most 63)")
    return v


def _template(v: str) -> str:
    Template.parse(v)
    return v


def _namespace_template(v: str) -> str:
    check_name_template(Template.parse(v), what="namespace")
    return v


def _name_template(v: str) -> str:
    check_name_template(Template.parse(v), what="name")
    return v


def _env_name(v: str) -> str:
    """A literal must be a valid name now; a template's fixed text must at least be name characters
    (the rendered result is checked again when the action is rendered)."""
    t = Template.parse(v)
    if t.is_literal and not is_env_var_name(v):
        raise ValueError(f"{v!r} is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    if any(not (c.isascii() and (c.isalnum() or c == "_")) for c in t.literal_text()):
        raise ValueError(f"template {v!r} can never render a valid environment variable name")
    return v


def _selector_template(v: str) -> str:
    t = Template.parse(v)
    if t.is_literal and (problem := label_selector_problem(v)):
        raise ValueError(f"selector {v!r}: {problem}")
    return v


def _scalar_to_str(v: Any) -> Any:
    """Env values are strings; `value: true` in YAML means the string "true", not a bool."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return v


def _container_name(v: str) -> str:
    if not is_dns1123_label(v):
        raise ValueError(f"{v!r} is not a valid container name")
    return v


def _matchers(v: str) -> str:
    """One `match:` item: a matcher, or several in Alertmanager's list form (`{a="x", b=~"y"}`),
    as each item of an `alertmanager.yml` `matchers:` list may be."""
    if not parse_matchers(v):
        raise ValueError(f"match item {v!r} has no matchers")
    return v


def _match_list(v: Any) -> Any:
    """`match:` is a list of matcher items, or one item on its own (`match: '{a="x", b=~"y"}'`)."""
    if isinstance(v, str):
        if not parse_matchers(v):
            raise ValueError(f"match {v!r} has no matchers")
        return [v]
    return v


def _when(v: str) -> str:
    if parse_threshold(v).subject.source == "result":
        raise ValueError(f"condition {v!r}: 'result' is only for confirm.when")
    return v


def _confirm_when(v: str) -> str:
    if parse_threshold(v).subject.source != "result":
        raise ValueError(f"confirm condition {v!r} must test the query's 'result', e.g. 'result > 10'")
    return v


RuleNameText = Annotated[str, AfterValidator(_rule_name)]
TemplateText = Annotated[str, Field(min_length=1), AfterValidator(_template)]
NamespaceTemplate = Annotated[str, AfterValidator(_namespace_template)]
NameTemplate = Annotated[str, AfterValidator(_name_template)]
MatchersText = Annotated[str, AfterValidator(_matchers)]
MatchList = Annotated[list[MatchersText], BeforeValidator(_match_list), Field(min_length=1)]
WhenText = Annotated[str, AfterValidator(_when)]
ConfirmWhenText = Annotated[str, AfterValidator(_confirm_when)]
ContainerName = Annotated[str, AfterValidator(_container_name)]
Severity = Annotated[str, Field(max_length=32), AfterValidator(check_severity)]


# --- target, confirm, actions ---------------------------------------------------------------


class TargetModel(_Strict):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    namespace: NamespaceTemplate
    name: NameTemplate


class ConfirmModel(_Strict):
    """Re-check before acting: a PromQL `query` whose result satisfies `when`, or an `http` health
    check that fails (the service is still unhealthy)."""

    query: TemplateText | None = None
    when: ConfirmWhenText | None = None
    http: HttpCheckModel | None = None
    on_unreachable: Literal["skip", "act"] = "skip"

    @model_validator(mode="after")
    def _one_kind(self) -> ConfirmModel:
        if self.http is not None:
            if self.query is not None or self.when is not None:
                raise ValueError("confirm takes 'query' and 'when', or 'http', not both")
        elif self.query is None or self.when is None:
            raise ValueError("confirm needs 'query' and 'when' (PromQL), or 'http' (a health check)")
        return self


class RolloutRestartParams(_Strict):
    unless_rolled_out_within: PositiveDuration | None = None
    """Skip (not fail) when the workload rolled out this recently: a rollback rule owns that case."""


class RolloutUndoParams(_Strict):
    only_if_rolled_out_within: PositiveDuration | None = None
    to_revision: Annotated[int, Field(ge=1)] | None = None


class ScaleParams(_Strict):
    to: Annotated[int, Field(ge=0)] | None = None
    by: int | None = None
    factor: Annotated[float, Field(gt=0)] | None = None
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None
    allow_zero: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ScaleParams:
        given = [k for k in ("to", "by", "factor") if getattr(self, k) is not None]
        if len(given) != 1:
            found = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"scale needs exactly one of 'to', 'by' or 'factor' ({found})")
        if self.by == 0 or self.factor == 1:
            raise ValueError("scale by 0 or by a factor of 1 changes nothing")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"scale min {self.min} is greater than max {self.max}")
        zero = self.to == 0 or self.min == 0 or self.max == 0
        if zero and not self.allow_zero:
            raise ValueError("scaling to zero replicas needs 'allow_zero: true'")
        if self.to is not None and (
            (self.min is not None and self.to < self.min) or (self.max is not None and self.to > self.max)
        ):
            raise ValueError(f"scale to {self.to} is outside min {self.min} / max {self.max}")
        grows = (self.by or 0) > 0 or (self.factor or 0) > 1
        if grows and self.max is None:
            raise ValueError("scaling up needs a 'max', so a flapping alert cannot grow the workload forever")
        return self


class SetEnvParams(_Strict):
    name: Annotated[str, AfterValidator(_env_name)]
    value: Annotated[str, BeforeValidator(_scalar_to_str), AfterValidator(_template)]
    container: ContainerName | None = None


class DeletePodParams(_Strict):
    selector: Annotated[str, AfterValidator(_selector_template)] | None = None
    pod: NameTemplate | None = None
    max: Annotated[int, Field(ge=1)] = 1
    force: Literal["delete"] | None = None
    """Absent: evict (policy/v1 Eviction, PodDisruptionBudgets respected). `delete`: delete the pod
    without asking its budget, an explicit choice in the rule file."""

    @model_validator(mode="after")
    def _one_way(self) -> DeletePodParams:
        # Neither: the target workload's own pods (its selector), `max` of them.
        if self.selector is not None and self.pod is not None:
            raise ValueError("delete_pod takes 'selector' or 'pod', not both")
        if self.pod is not None and self.max != 1:
            raise ValueError("delete_pod 'max' only applies with 'selector'")
        return self


def _single_key_item(v: Any) -> Any:
    """`- rollout_restart` and `- rollout_restart:` both mean `- rollout_restart: {}`."""
    if isinstance(v, str):
        return {v: {}}
    if isinstance(v, dict):
        return {k: ({} if p is None else p) for k, p in v.items()}
    return v


class ActionModel(_Strict):
    """One `actions:` item: a single-key mapping `{kind: params}`."""

    rollout_restart: RolloutRestartParams | None = None
    rollout_undo: RolloutUndoParams | None = None
    scale: ScaleParams | None = None
    set_env: SetEnvParams | None = None
    delete_pod: DeletePodParams | None = None
    set_image: SetImageParams | None = None
    pause_rollout: PauseRolloutParams | None = None
    resume_rollout: ResumeRolloutParams | None = None
    run_job: RunJobParams | None = None
    http_request: HttpRequestParams | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, v: Any) -> Any:
        return _single_key_item(v)

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionModel:
        kinds = [k for k in ACTION_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"each action is one single-key mapping like '- rollout_restart: {{}}' (found {found})"
            )
        return self

    @property
    def kind(self) -> ActionKind:
        return next(k for k in ACTION_KINDS if getattr(self, k) is not None)

    @property
    def params(self) -> BaseModel:
        params = getattr(self, self.kind)
        assert isinstance(params, BaseModel)
        return params


class FollowUpModel(_Strict):
    """One `on_failure:` step. Kinds are checked here; their parameters belong to later stages."""

    escalate: dict[str, Any] | None = None
    notify: dict[str, Any] | None = None
    webhook: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, v: Any) -> Any:
        return _single_key_item(v)

    @model_validator(mode="after")
    def _exactly_one(self) -> FollowUpModel:
        kinds = [k for k in FOLLOW_UP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"each on_failure step is one single-key mapping like '- escalate: {{}}' (found {found})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in FOLLOW_UP_KINDS if getattr(self, k) is not None)


# --- guards, verify, the rule ---------------------------------------------------------------


class MaxActionsModel(_Strict):
    count: Annotated[int, Field(ge=1)]
    per: PositiveDuration


class BreakerModel(_Strict):
    failures: Annotated[int, Field(ge=1)]
    reset_after: PositiveDuration


class RetryModel(_Strict):
    attempts: Annotated[int, Field(ge=1)]
    """Total attempts, the first included (tenacity's stop_after_attempt)."""
    backoff: DurationRange | None = None


class GuardsModel(_Strict):
    """Per-rule guard overrides. A key left out (None) means: use the global default."""

    cooldown: Duration | None = None
    max_actions: MaxActionsModel | None = None
    circuit_breaker: BreakerModel | None = None
    retry: RetryModel | None = None
    approval: bool | None = None
    dry_run: bool | None = None
    max_alert_age: Duration | None = None


class SilenceModel(_Strict):
    """Silence the alert in Alertmanager while the fix is verified, so on-call is not paged for it."""

    duration: PositiveDuration | None = None
    """Upper bound on the silence; default: the rule's verify window (or 15m). Expired early when
    verification ends, whichever way."""
    labels: list[str] | None = None
    """Label names to match on; default: every label of the alert."""


class NotifyModel(_Strict):
    """Tell a channel what is happening: incident when acting, update when the action ends,
    resolution when the alert resolves."""

    channel: str


class EscalationStepModel(_Strict):
    """One rung of the rule's escalation ladder (replaces its severity's ladder from the config)."""

    after: Duration
    page: Annotated[str, Field(min_length=1)] | None = None
    notify: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> EscalationStepModel:
        if (self.page is None) == (self.notify is None):
            raise ValueError("an escalation step needs exactly one of 'page' or 'notify'")
        if self.after < 0:
            raise ValueError("'after' cannot be negative")
        return self


class UpdatesModel(_Strict):
    """While the incident is open, send its state to a channel every `every`."""

    every: PositiveDuration
    channel: Annotated[str, Field(min_length=1)] | None = None
    """Default: the rule's `notify` channel."""


class VerifyModel(_Strict):
    rollout_complete_within: PositiveDuration | None = None
    resolved_within: PositiveDuration | None = None
    healthy: HealthyModel | None = None
    """An HTTP health check that must pass within its window."""
    metric: MetricModel | None = None
    """A PromQL query that must come back under a threshold within its window (error rate, latency)."""


def _empty_mapping(v: Any) -> Any:
    """`guards:` with nothing under it is YAML null; it means no overrides, not an error."""
    return {} if v is None else v


def _empty_list(v: Any) -> Any:
    return [] if v is None else v


class RuleModel(_Strict):
    name: RuleNameText
    description: str = ""
    severity: Severity = ""
    enabled: bool = True
    match: MatchList
    when: WhenText | None = None
    confirm: ConfirmModel | None = None
    status: Literal["firing", "resolved", "any"] = "firing"
    target: TargetModel
    actions: Annotated[list[ActionModel], Field(min_length=1)]
    guards: Annotated[GuardsModel, BeforeValidator(_empty_mapping)] = GuardsModel()
    verify: VerifyModel | None = None
    silence: SilenceModel | None = None
    notify: NotifyModel | None = None
    on_failure: Annotated[list[FollowUpModel], BeforeValidator(_empty_list)] = []
    escalation: list[EscalationStepModel] | None = None
    updates: UpdatesModel | None = None
    watch: Duration | None = None


DEPLOYMENT_ONLY = ("rollout_undo", "pause_rollout", "resume_rollout")
"""Only Deployments keep a ReplicaSet history and a `paused` field."""


def cross_checks(rule: RuleModel) -> list[tuple[Loc, str]]:
    """Checks spanning fields, each with the location (relative to the rule) to report it at."""
    problems: list[tuple[Loc, str]] = []
    for i, action in enumerate(rule.actions):
        if action.kind in DEPLOYMENT_ONLY and rule.target.kind != "Deployment":
            problems.append(
                (
                    ("actions", i, action.kind),
                    f"{action.kind} only works on a Deployment (target kind is {rule.target.kind})",
                )
            )
        if action.scale is not None and action.scale.allow_zero and rule.guards.approval is not True:
            problems.append(
                (
                    ("actions", i, "scale", "allow_zero"),
                    "scaling to zero is dangerous: 'allow_zero: true' needs 'guards: {approval: true}'",
                )
            )
    return problems
