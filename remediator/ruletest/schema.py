"""The rule-test file format, as pydantic models: what a test file may say, and nothing else.

Every model forbids unknown keys, so `imagee: web:v2` is an error with its line rather than a
silently default image. Scalars an SRE writes loosely are parsed here: times on the test's
timeline (`at: 5m` after the start, `rolled_out: -20m` before it), `namespace/name` object
keys, `namespace/Kind/name` targets, and label or env values YAML read as numbers (`42.5`
means "42.5"). `loader.py` checks what needs more than one field or the loaded rules.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from remediator.durations import parse_duration
from remediator.kubenames import is_dns1123_label, is_dns1123_subdomain, is_env_var_name
from remediator.model import ExecutionStatus, Outcome

WORKLOAD_KINDS: dict[str, str] = {
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
}


# --- scalars ----------------------------------------------------------------------------------------


def _time(v: Any) -> float:
    """A point at or after the test's start: `0s`, `5m`, `1h30m` (a bare number is seconds)."""
    if isinstance(v, str) and v.strip().startswith("-"):
        raise ValueError(f"{v!r}: alerts are sent at or after the start of the test ('0s', '5m')")
    return parse_duration(v)


def _times(v: Any) -> tuple[float, ...]:
    """`at: 5m` or `at: [0s, 5m, 10m]` (the same alert re-sent, as Alertmanager repeats it)."""
    items = v if isinstance(v, list) else [v]
    if not items:
        raise ValueError("'at' needs at least one time")
    return tuple(_time(item) for item in items)


def _offset(v: Any) -> float:
    """A point on the timeline, before the start when negative: `-20m`, `0s`, `5m`."""
    if isinstance(v, str) and v.strip().startswith("-"):
        return -parse_duration(v.strip()[1:])
    if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
        return float(v)
    return parse_duration(v)


def _text(v: Any) -> Any:
    """Label, annotation and env values are strings; `value: 42.5` means "42.5", not a float.

    Booleans are refused: YAML reads unquoted yes/no/on/off as booleans, which is a trap."""
    if isinstance(v, bool):
        raise ValueError(f'{v!r}: YAML read this as a boolean; quote it ("true", "yes")')
    if isinstance(v, int | float):
        return str(v)
    return v


def _object_key(v: Any) -> Any:
    if not isinstance(v, str) or v.count("/") != 1:
        raise ValueError(f"{v!r} is not 'namespace/name'")
    ns, name = v.split("/")
    if not is_dns1123_label(ns):
        raise ValueError(f"{v!r}: namespace {ns!r} is not a valid Kubernetes namespace name")
    if not is_dns1123_subdomain(name):
        raise ValueError(f"{v!r}: {name!r} is not a valid Kubernetes object name")
    return v


def _namespace(v: Any) -> Any:
    if isinstance(v, str) and not is_dns1123_label(v):
        raise ValueError(f"{v!r} is not a valid Kubernetes namespace name")
    return v


def _env_name(v: Any) -> Any:
    if isinstance(v, str) and not is_env_var_name(v):
        raise ValueError(f"{v!r} is not a valid environment variable name")
    return v


def _target_key(v: Any) -> Any:
    """The journal's target key, `namespace/Kind/name`, as logs and `decisions.target` show it."""
    parts = v.split("/") if isinstance(v, str) else []
    if len(parts) != 3 or parts[1] not in WORKLOAD_KINDS.values():
        raise ValueError(f"{v!r} is not a target like 'shop/Deployment/checkout' (namespace/Kind/name)")
    return v


Time = Annotated[float, BeforeValidator(_time)]
Times = Annotated[tuple[float, ...], BeforeValidator(_times)]
Offset = Annotated[float, BeforeValidator(_offset)]
Text = Annotated[str, BeforeValidator(_text)]
ObjectKey = Annotated[str, BeforeValidator(_object_key)]
NamespaceName = Annotated[str, BeforeValidator(_namespace)]
EnvName = Annotated[str, BeforeValidator(_env_name)]
TargetKey = Annotated[str, BeforeValidator(_target_key)]
Image = Annotated[str, Field(min_length=1)]
Strings = dict[str, Text]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the cluster before the test ------------------------------------------------------------------------


class NamespaceSpec(_Model):
    labels: Strings = Field(default_factory=dict)
    annotations: Strings = Field(default_factory=dict)


class DeploymentSpec(_Model):
    image: Image | None = None
    """The current revision's image, in every container. Default: `<name>:v1`."""
    revisions: list[Image] = Field(default_factory=list)
    """Images of the older revisions, oldest first: what `rollout_undo` goes back to."""
    rolled_out: Offset = -86400.0
    """When the current revision rolled out (`-20m`). Default a day before the test: not a recent deploy."""
    replicas: Annotated[int, Field(ge=0)] = 2
    env: dict[EnvName, Text] = Field(default_factory=dict)
    containers: list[str] = Field(default_factory=lambda: ["app"], min_length=1)
    labels: Strings = Field(default_factory=dict)
    annotations: Strings = Field(default_factory=dict)
    paused: bool = False


class StatefulSetSpec(_Model):
    image: Image | None = None
    replicas: Annotated[int, Field(ge=0)] = 2
    labels: Strings = Field(default_factory=dict)
    annotations: Strings = Field(default_factory=dict)


class DaemonSetSpec(_Model):
    image: Image | None = None
    labels: Strings = Field(default_factory=dict)
    annotations: Strings = Field(default_factory=dict)


class PodSpec(_Model):
    labels: Strings = Field(default_factory=dict)
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"] = "Running"
    owner: (
        Annotated[
            str,
            StringConstraints(pattern=r"^(Deployment|StatefulSet|DaemonSet)/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        ]
        | None
    ) = None
    """`Deployment/NAME` (its current ReplicaSet owns the pod), `StatefulSet/NAME` or `DaemonSet/NAME`
    in the pod's namespace: the pod is one of that workload's, in place of one it runs. Without it
    the pod has no owner, and delete_pod refuses it (`not_owned_by_target`)."""


class DisruptionBudgetSpec(_Model):
    """A policy/v1 PodDisruptionBudget: `delete_pod` evicts, so the budget decides (a budget allowing
    no disruption now defers the decision: "try later")."""

    selector: Annotated[Strings, Field(min_length=1)]
    """The pods' labels it selects (`matchLabels`)."""
    min_available: (
        Annotated[int, Field(ge=0)] | Annotated[str, StringConstraints(pattern=r"^\d+%$")] | None
    ) = None
    max_unavailable: (
        Annotated[int, Field(ge=0)] | Annotated[str, StringConstraints(pattern=r"^\d+%$")] | None
    ) = None


class JobOutcomeSpec(_Model):
    """How the pods of Jobs running an image end: `run_job` steps meet this instead of a real program."""

    outcome: Literal["succeed", "fail", "pending"] = "succeed"
    exit_code: Annotated[int, Field(ge=1, le=255)] | None = None
    log: str | None = None
    """What the container prints (its last lines end up in the journal)."""


class ClusterSpec(_Model):
    namespaces: dict[NamespaceName, NamespaceSpec | None] = Field(default_factory=dict)
    deployments: dict[ObjectKey, DeploymentSpec | None] = Field(default_factory=dict)
    statefulsets: dict[ObjectKey, StatefulSetSpec | None] = Field(default_factory=dict)
    daemonsets: dict[ObjectKey, DaemonSetSpec | None] = Field(default_factory=dict)
    pods: dict[ObjectKey, PodSpec | None] = Field(default_factory=dict)
    disruption_budgets: dict[ObjectKey, DisruptionBudgetSpec] = Field(default_factory=dict)
    job_outcomes: dict[Image, JobOutcomeSpec] = Field(default_factory=dict)
    """Per image: what a Job's pod running it does (default: succeeds after a few seconds, no log)."""

    def merged(self, over: ClusterSpec) -> ClusterSpec:
        """This cluster with `over`'s objects added; an object named in both is taken from `over`."""
        return ClusterSpec(
            namespaces={**self.namespaces, **over.namespaces},
            deployments={**self.deployments, **over.deployments},
            statefulsets={**self.statefulsets, **over.statefulsets},
            daemonsets={**self.daemonsets, **over.daemonsets},
            pods={**self.pods, **over.pods},
            disruption_budgets={**self.disruption_budgets, **over.disruption_budgets},
            job_outcomes={**self.job_outcomes, **over.job_outcomes},
        )


# --- alerts -------------------------------------------------------------------------------------------


class AlertSpec(_Model):
    at: Times
    labels: Annotated[Strings, Field(min_length=1)]
    annotations: Strings = Field(default_factory=dict)
    status: Literal["firing", "resolved"] = "firing"
    starts_at: Offset | None = None
    """`startsAt` on the timeline (`-10m`); default: the time the alert is sent."""


class ApprovalSpec(_Model):
    """A human approving a rule's pending action (`approval: true`) at a time, as the override API would."""

    at: Time
    rule: str
    by: Annotated[str, Field(min_length=1, max_length=64)] = "on-call"


class AcknowledgeSpec(_Model):
    """A human acknowledging the incident a rule handles at a time (the override API, or its page in
    PagerDuty): what is left of its escalation ladder stops."""

    at: Time
    rule: str
    by: Annotated[str, Field(min_length=1, max_length=64)] = "on-call"


# --- expectations -------------------------------------------------------------------------------------


class ExpectedDecision(_Model):
    rule: str
    outcome: Outcome
    target: TargetKey | None = None
    reason: str | None = None
    """A substring of the decision's reason."""
    at: Time | None = None
    execution: ExecutionStatus | None = None
    """How the execution ended: succeeded, skipped (its precondition did not hold), failed, planned..."""
    execution_reason: str | None = None
    """A substring of the execution's error (why it was skipped or failed) or of its summary."""


class ExpectedWorkload(_Model):
    image: Image | None = None
    """Every container runs this image."""
    images: dict[str, Image] | None = None
    """Per container: `{app: web:v1, sidecar: proxy:v3}`."""
    replicas: Annotated[int, Field(ge=0)] | None = None
    env: dict[EnvName, Text | None] | None = None
    """Variables of `container` (default: the first); `null` means the variable must not be set."""
    container: str | None = None
    restarted: bool | None = None
    """Whether the pod template carries `kubectl.kubernetes.io/restartedAt` (a rollout restart)."""
    paused: bool | None = None
    """Whether the Deployment's rollout is paused (`spec.paused`)."""


class ExpectedCluster(_Model):
    deployments: dict[ObjectKey, ExpectedWorkload] = Field(default_factory=dict)
    statefulsets: dict[ObjectKey, ExpectedWorkload] = Field(default_factory=dict)
    daemonsets: dict[ObjectKey, ExpectedWorkload] = Field(default_factory=dict)
    pods: dict[ObjectKey, Literal["present", "absent"]] = Field(default_factory=dict)


class ExpectedRequest(_Model):
    method: Literal["POST", "PUT", "PATCH", "DELETE"]
    url: Annotated[str, Field(min_length=1)]
    """As the stub saw it: `http://host:port/path?query` (the port always written)."""
    at: Time | None = None
    body: Any = None
    """When given, the JSON body must equal it."""


class ExpectedPage(_Model):
    """A PagerDuty event remediator sent (Events API v2), to the runner's stand-in for PagerDuty."""

    page: Annotated[str, Field(min_length=1)]
    """The service, by its name in the config's `pagerduty.routing_keys` (`default`: `routing_key`)."""
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    at: Time | None = None
    severity: Literal["critical", "error", "warning", "info"] | None = None


class ExpectedMessage(_Model):
    """A message to a chat channel (by its name in the config's `notify.channels`)."""

    channel: Annotated[str, Field(min_length=1)]
    at: Time | None = None
    text: str | None = None
    """A substring of the message."""


class ExpectedIncident(_Model):
    """An incident as the board shows it at the end of the test."""

    state: Literal["open", "mitigated", "watching", "resolved"]
    rule: str | None = None
    severity: str | None = None
    reopened: Annotated[int, Field(ge=0)] | None = None
    acknowledged_by: str | None = None
    events: list[str] | None = None
    """Its timeline's event kinds, in order (opened, deferred, acting, mitigated, failed, escalated,
    paged, notified, update, acknowledged, watching, reopened, resolved...)."""


class Expectations(_Model):
    decisions: list[ExpectedDecision] | None = None
    """Every decision made, in order; `[]` means none. Left out: decisions are not checked."""
    cluster: ExpectedCluster | None = None
    requests: list[ExpectedRequest] | None = None
    """Every request to a stub service other than GET (health probes), in order; `[]`: none."""
    pages: list[ExpectedPage] | None = None
    """Every PagerDuty event sent, in order; `[]`: none."""
    notifications: list[ExpectedMessage] | None = None
    """Every chat message sent, in order; `[]`: none."""
    incidents: list[ExpectedIncident] | None = None
    """Every incident, in the order they opened; `[]`: none."""


# --- stub services -------------------------------------------------------------------------------------


class ServiceAnswer(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    status: Annotated[int, Field(ge=100, le=599)] = 200
    body: Any = None
    """Answered as JSON; left out: an empty body."""
    from_: Annotated[Time, Field(alias="from")] = 0.0
    """From this time on (`5m`): a route listing several answers changes over the test."""


def _answers(v: Any) -> Any:
    return v if isinstance(v, list) else [v]


def _route(v: Any) -> Any:
    method, _, path = v.partition(" ") if isinstance(v, str) else ("", "", "")
    if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE") or not path.startswith("/"):
        raise ValueError(f"{v!r} is not a route like 'GET /health' or 'POST /admin/maintenance'")
    return v


def _service_host(v: Any) -> Any:
    if not isinstance(v, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?", v):
        raise ValueError(f"{v!r} is not a host name like 'api.shop.svc' or 'api.shop.svc:8080'")
    return v


Answers = Annotated[list[ServiceAnswer], BeforeValidator(_answers), Field(min_length=1)]
Routes = dict[Annotated[str, BeforeValidator(_route)], Answers]
Services = dict[Annotated[str, BeforeValidator(_service_host)], Routes]


# --- tests and files -----------------------------------------------------------------------------------


class CaseSpec(_Model):
    name: Annotated[str, Field(min_length=1)]
    config: dict[str, Any] = Field(default_factory=dict)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    services: Services = Field(default_factory=dict)
    """Added to the file's services; a route named in both is taken from the test."""
    secrets: dict[EnvName, Text] = Field(default_factory=dict)
    """Added to the file's secrets."""
    alerts: Annotated[list[AlertSpec], Field(min_length=1)]
    approve: list[ApprovalSpec] = Field(default_factory=list)
    """Approvals given during the test; each must find a pending approval of its rule."""
    acknowledge: list[AcknowledgeSpec] = Field(default_factory=list)
    """Acknowledgements during the test; each must find an incident of its rule not resolved."""
    until: Time | None = None
    """Run the clock to this time (`2h`): ladders, updates and watches fire on the way. Default: until
    every execution has finished after the last alert."""
    expect: Expectations


class FileSpec(_Model):
    rule_files: Annotated[list[str], Field(min_length=1)]
    config: dict[str, Any] = Field(default_factory=dict)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    services: Services = Field(default_factory=dict)
    """Stub HTTP services the rules' `http_request` actions and `http` checks reach (by host name)."""
    secrets: dict[EnvName, Text] = Field(default_factory=dict)
    """Environment variables the rules' secret references (`{env: NAME}`) read during each test: test
    values only, set for the test and removed after it."""
    tests: Annotated[list[CaseSpec], Field(min_length=1)]


def default_image(key: str) -> str:
    """`shop/checkout` runs `checkout:v1` unless the test says otherwise."""
    return f"{key.partition('/')[2]}:v1"
