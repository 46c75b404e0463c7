"""Rule-file models for the steps beyond workload patches: HTTP calls, Jobs, images, rollouts, health checks.

Same conventions as schema.py (strict, unknown keys refused, errors at the YAML node). The
attacker-controlled parts of an alert (its labels and annotations) reach these steps only
through templates, and each template is confined at load time to where a value is harmless:

* `http_request` / `http` checks: the URL's path and query, percent-encoded (rules/urls.py);
  headers and bodies are literal; credentials are secret references, never literals.
* `run_job`: command arguments after the first and literal env values; never in a shell's
  command (`sh -c`), and each rendered value is checked again (no newline or control
  character, no leading `-`, bounded length) before it reaches the API server.
* `set_image`: only the tag, and the rendered reference must still be a valid image reference.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from remediator.durations import parse_duration
from remediator.kubenames import is_dns1123_label, is_dns1123_subdomain, is_env_var_name
from remediator.rules.jsonpath import JsonCondition
from remediator.rules.templates import Template
from remediator.rules.urls import UrlTemplate

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "busybox", "env", "python", "python3", "perl"})
"""Interpreters whose arguments are code: no template may reach their command line."""
MAX_ARG_CHARS = 256

# The distribution reference grammar (docker/distribution reference/regexp.go), tag or digest required.
_DOMAIN_PART = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE = re.compile(rf"(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::{_TAG})?(?:@{_DIGEST})?")
_TAG_RE = re.compile(_TAG)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade", "te"})
_SENSITIVE_HEADER = re.compile(r"authorization|cookie|token|secret|api-?key|password|credential", re.I)
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _positive_duration(v: Any) -> float:
    seconds = parse_duration(v)
    if seconds <= 0:
        raise ValueError(f"duration {v!r} must be greater than zero")
    return seconds


def _duration(v: Any) -> float:
    return parse_duration(v)


PositiveDuration = Annotated[float, BeforeValidator(_positive_duration)]
Duration = Annotated[float, BeforeValidator(_duration)]


# --- checks on rendered values (also used by compiled.py after rendering) ---------------------------------


def image_problem(ref: str) -> str | None:
    """Why `ref` is not a usable image reference (tag or digest required), or None."""
    if len(ref) > 512 or _IMAGE.fullmatch(ref) is None:
        return f"{ref!r} is not a valid image reference"
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        return f"{ref!r} has no tag or digest (an implicit :latest is never what a hotfix means)"
    return None


def job_arg_problem(value: str) -> str | None:
    """Why a rendered Job argument or env value is refused, or None."""
    if not value:
        return "is empty"
    if len(value) > MAX_ARG_CHARS:
        return f"is longer than {MAX_ARG_CHARS} characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return f"{value!r} contains a newline or a control character"
    if value.startswith("-"):
        return f"{value!r} starts with '-' (it would be read as an option)"
    return None


# --- secrets -------------------------------------------------------------------------------------------


class SecretValueModel(_Strict):
    """A value remediator reads from its own environment or a mounted file, never from the rule file."""

    env: str | None = None
    file: str | None = None
    prefix: str = ""
    """Put before the secret, e.g. "Bearer "."""

    @model_validator(mode="after")
    def _one_source(self) -> SecretValueModel:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of 'env' or 'file'")
        if self.env is not None and not is_env_var_name(self.env):
            raise ValueError(f"{self.env!r} is not a valid environment variable name")
        if self.file is not None and not self.file.startswith("/"):
            raise ValueError(f"secret file {self.file!r} must be an absolute path")
        if any(ord(c) < 0x20 for c in self.prefix):
            raise ValueError("the prefix contains a control character")
        return self


class KubeSecretRefModel(_Strict):
    """An env value from a Kubernetes Secret in the target's namespace (the Job reads it, not remediator)."""

    secret: str
    key: str

    @model_validator(mode="after")
    def _names(self) -> KubeSecretRefModel:
        if not is_dns1123_subdomain(self.secret):
            raise ValueError(f"{self.secret!r} is not a valid Secret name")
        if not re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", self.key):
            raise ValueError(f"{self.key!r} is not a valid Secret key")
        return self


def _header_name(v: str) -> str:
    if _HEADER_NAME.fullmatch(v) is None:
        raise ValueError(f"{v!r} is not a valid HTTP header name")
    if v.lower() in _FORBIDDEN_HEADERS:
        raise ValueError(f"header {v!r} is set by remediator itself")
    return v


def _literal_header_value(v: str) -> str:
    if "{{" in v:
        raise ValueError("header values are literal: templates are only allowed in the URL's path and query")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
        raise ValueError("a header value contains a newline or a control character")
    return v


def _string_or(model: type[BaseModel], check: Any) -> Any:
    """A before-validator for `str | Model`: one branch chosen by the value's type, so an error is
    reported once, in that branch's words (not once per union member)."""

    def validate(v: Any) -> Any:
        if isinstance(v, bool | int | float):
            v = _as_string(v)  # YAML read `5` or `true`: the value is the text
        if isinstance(v, str):
            return check(v)
        if isinstance(v, dict):
            try:
                return model.model_validate(v)
            except ValidationError as e:
                raise ValueError(
                    "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
                ) from None
        return v

    return validate


HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[
    str | SecretValueModel, BeforeValidator(_string_or(SecretValueModel, _literal_header_value))
]


def _check_headers(headers: dict[str, Any]) -> None:
    for name, value in headers.items():
        if isinstance(value, str) and _SENSITIVE_HEADER.search(name):
            raise ValueError(
                f"header {name!r} looks like a credential: give it as a secret reference "
                "({env: NAME} or {file: /path}, with an optional prefix), never in the rule file"
            )


def _url(v: str) -> str:
    UrlTemplate.parse(v)
    return v


def _condition(v: str) -> str:
    JsonCondition.parse(v)
    return v


def _no_templates(v: Any) -> Any:
    """Bodies are literal: a label must not reach a request body."""
    if isinstance(v, str) and "{{" in v:
        raise ValueError("the body is literal: templates are only allowed in the URL's path and query")
    if isinstance(v, dict):
        for k, item in v.items():
            _no_templates(k)
            _no_templates(item)
    if isinstance(v, list):
        for item in v:
            _no_templates(item)
    return v


UrlText = Annotated[str, AfterValidator(_url)]
ConditionText = Annotated[str, AfterValidator(_condition)]
StatusCodes = Annotated[list[Annotated[int, Field(ge=100, le=599)]], Field(min_length=1, max_length=20)]
Timeout = Annotated[float, BeforeValidator(_positive_duration), Field(le=300)]


# --- http_request and http checks ------------------------------------------------------------------------


class HttpRequestParams(_Strict):
    """`http_request`: one call to a service's admin endpoint (maintenance mode, cache clear)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: UrlText
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    body: Annotated[Any, AfterValidator(_no_templates)] = None
    """Sent as JSON when given."""
    expect_status: StatusCodes = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout: Timeout = 10.0

    @model_validator(mode="after")
    def _consistent(self) -> HttpRequestParams:
        _check_headers(self.headers)
        if self.body is not None and self.method in ("GET", "DELETE"):
            raise ValueError(f"a {self.method} request takes no body")
        return self


class HttpCheckModel(_Strict):
    """An HTTP health check: healthy when the status is expected and the JSON condition holds."""

    url: UrlText
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    expect_status: StatusCodes = Field(default_factory=lambda: [200])
    condition: ConditionText | None = None
    """On the JSON answer, e.g. `services.ideogram.connected == true`."""
    timeout: Timeout = 5.0

    @model_validator(mode="after")
    def _consistent(self) -> HttpCheckModel:
        _check_headers(self.headers)
        return self


class HealthyModel(_Strict):
    """`verify: {healthy: {http: {...}, within: 5m}}`: the health check passes within the window."""

    http: HttpCheckModel
    within: PositiveDuration


class MetricModel(_Strict):
    """`verify: {metric: {query: ..., below: 0.01, within: 10m}}`: back under a threshold (PromQL)."""

    query: Annotated[str, Field(min_length=1)]
    below: float
    within: PositiveDuration

    @model_validator(mode="after")
    def _template(self) -> MetricModel:
        Template.parse(self.query)
        return self


# --- Kubernetes steps beyond patches ----------------------------------------------------------------------


def _image_template(v: str) -> str:
    """A literal reference, or one whose template is confined to the tag (`api:{{ annotations.tag }}`)."""
    t = Template.parse(v)
    if t.is_literal:
        if problem := image_problem(v):
            raise ValueError(problem)
        return v
    first = next(i for i, p in enumerate(t.parts) if not isinstance(p, str))
    prefix = "".join(str(p) for p in t.parts[:first])
    rest = "".join(p for p in t.parts[first:] if isinstance(p, str))
    if not prefix.endswith(":") and ":" not in prefix.rsplit("/", 1)[-1]:
        raise ValueError(f"image {v!r}: a template is allowed only in the tag, after a literal 'repository:'")
    if rest and not _TAG_RE.fullmatch("x" + rest):
        raise ValueError(f"image {v!r}: the text around the template is not valid in a tag")
    if problem := image_problem(prefix.rstrip(":") + ":x"):
        raise ValueError(problem)
    return v


ImageText = Annotated[str, AfterValidator(_image_template)]


def _container(v: str) -> str:
    if not is_dns1123_label(v):
        raise ValueError(f"{v!r} is not a valid container name")
    return v


class SetImageParams(_Strict):
    """`kubectl set image`: one container's image (a hotfix), then the rollout is verified as usual."""

    image: ImageText
    container: Annotated[str, AfterValidator(_container)] | None = None
    """Default: the workload's only container (an error if it has several)."""


class PauseRolloutParams(_Strict):
    """`kubectl rollout pause`; optionally undo the rollout when the alert is still firing after a while."""

    undo_if_firing_after: PositiveDuration | None = None
    """The canary rule: pause now; if the alert has not resolved after this long, resume and roll back."""


class ResumeRolloutParams(_Strict):
    """`kubectl rollout resume`."""


def _quantity(v: str) -> str:
    if _QUANTITY.fullmatch(v) is None:
        raise ValueError(f"{v!r} is not a Kubernetes quantity (e.g. 100m, 128Mi)")
    return v


Quantity = Annotated[str, AfterValidator(_quantity)]


class ResourceAmounts(_Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class ResourcesModel(_Strict):
    requests: ResourceAmounts = ResourceAmounts(cpu="50m", memory="64Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="500m", memory="256Mi")


def _env_key(v: str) -> str:
    if not is_env_var_name(v):
        raise ValueError(f"{v!r} is not a valid environment variable name")
    return v


def _literal_or_template(v: str) -> str:
    Template.parse(v)
    if any(ord(c) < 0x20 for c in Template.parse(v).literal_text()):
        raise ValueError(f"{v!r} contains a newline or a control character")
    return v


def _as_string(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return v


JobArg = Annotated[str, BeforeValidator(_as_string), AfterValidator(_literal_or_template)]
JobEnvValue = Annotated[
    str | KubeSecretRefModel,
    BeforeValidator(_string_or(KubeSecretRefModel, _literal_or_template)),
]


class RunJobParams(_Strict):
    """`run_job`: a Kubernetes Job in the target's namespace. The Job holds credentials; remediator not."""

    image: ImageText
    command: Annotated[list[JobArg], Field(min_length=1, max_length=64)]
    """The container's command as a list (exec form, no shell): `[redis-cli, -h, redis, FLUSHDB]`."""
    env: dict[Annotated[str, AfterValidator(_env_key)], JobEnvValue] = Field(default_factory=dict)
    service_account: Annotated[str, AfterValidator(_container)] | None = None
    """Default: none, and no API token is mounted in the Job's pod."""
    resources: ResourcesModel = ResourcesModel()
    active_deadline: PositiveDuration = 300.0
    """The Job is killed by Kubernetes after this long (activeDeadlineSeconds)."""
    ttl_after_finished: Duration = 3600.0
    """Kubernetes deletes the finished Job (and its pods) after this long (ttlSecondsAfterFinished)."""
    wait: PositiveDuration | None = None
    """How long remediator waits for the Job to finish; default: active_deadline plus one minute."""
    log_lines: Annotated[int, Field(ge=0, le=500)] = 50
    """Last lines of the Job's log kept in the journal."""
    run_as_non_root: bool = True

    @model_validator(mode="after")
    def _no_shell(self) -> RunJobParams:
        program = self.command[0]
        if not Template.parse(program).is_literal:
            raise ValueError("the command's program (its first item) must be literal")
        templated = [a for a in self.command[1:] if not Template.parse(a).is_literal]
        if templated and program.rsplit("/", 1)[-1] in SHELLS:
            raise ValueError(
                f"{program!r} interprets its arguments as code: a template may not reach it "
                "(run the program itself, with the values as separate arguments)"
            )
        return self
