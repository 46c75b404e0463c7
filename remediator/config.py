"""Settings: one strict tree, loaded from `config/remediator.yaml` (or `REMEDIATOR_CONFIG`).

Grouped by stage. Unknown keys are errors, so a typo fails at start-up instead of
silently keeping a default. Secrets are never written in the file itself: they are
references to environment variables or files, resolved once at start-up and kept
out of every log line and repr.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from remediator.durations import parse_duration
from remediator.errors import ConfigError
from remediator.model import EscalationStep
from remediator.secrets import Secret
from remediator.severity import check_severity, priority_of

CONFIG_ENV = "REMEDIATOR_CONFIG"
DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_TOKEN_ENV = "REMEDIATOR_WEBHOOK_TOKEN"


def _seconds(v: Any) -> float:
    return parse_duration(v)


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (mounted Kubernetes Secret)."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of 'env' or 'file'")
        return self

    def resolve(self) -> Secret | None:
        """The secret, or None when the variable is unset. A named file that is missing is an error."""
        if self.env is not None:
            value = os.environ.get(self.env, "").strip()
            return Secret(value) if value else None
        assert self.file is not None
        try:
            value = self.file.read_text().strip()
        except OSError as e:
            raise ConfigError(f"secret file {str(self.file)!r}: {e.strerror}") from e
        except UnicodeDecodeError:
            raise ConfigError(f"secret file {str(self.file)!r}: not UTF-8 text") from None
        return Secret(value) if value else None

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"


class ApiToken(SecretRef):
    """A named token for the override API; the name is what the audit trail shows."""

    name: str
    scope: Literal["read", "admin"] = "read"


class AuthSettings(_Strict):
    webhook_token: SecretRef | None = SecretRef(env=DEFAULT_TOKEN_ENV)
    """Bearer token Alertmanager sends (http_config.authorization). Unset: bind 127.0.0.1 only."""
    api_tokens: tuple[ApiToken, ...] = (
        ApiToken(name="admin", scope="admin", env="REMEDIATOR_ADMIN_TOKEN"),
        ApiToken(name="reader", scope="read", env="REMEDIATOR_READ_TOKEN"),
    )
    """Override API tokens. Admin endpoints need a token even on 127.0.0.1."""


class HttpSettings(_Strict):
    listen: str = DEFAULT_LISTEN
    """Loopback by default: a fresh install is not reachable from the network until a token is set."""
    insecure: bool = False
    """Allow binding beyond loopback with no webhook token. Only for trusted networks."""
    public_url: str | None = None
    """How humans reach this daemon's API (links in escalations and notifications)."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Alertmanager payloads with max_alerts unset can be large; 1 MiB holds ~1,000 alerts."""
    handler_timeout: Seconds = 10.0
    """Below Alertmanager's default group_interval (5m) so a stuck write answers 503, which it retries."""
    header_timeout: Seconds = Field(default=15.0, gt=0)
    """A request's headers must have arrived this long after the connection opened (or after the
    previous answer on it); an idle keep-alive connection is closed then too. A client that never
    finishes its headers holds no connection slot longer than this."""
    body_timeout: Seconds = Field(default=5.0, gt=0)
    """Reading a request body (at most max_body_bytes) takes no longer than this: 408 after it."""


class IntakeSettings(_Strict):
    """Webhooks acknowledged by a process of their own, so acknowledging and deciding use two cores."""

    processes: int = Field(default=0, ge=0, le=1)
    """0: the webhooks are served by the daemon's process, as everything else. 1: `remediator serve`
    starts one intake process that serves POST /webhook/alertmanager and /webhook/pagerduty (same
    checks and answers) and writes into the journal; this process decides. For storms, with 2 CPUs."""
    listen: str | None = None
    """Unset: one port. The intake process answers on http.listen, the webhooks itself and every other
    request (API, console, /metrics, probes) by passing it to the main process, which listens only on
    a Unix socket in a private directory. Set (HOST:PORT; port 0 picks a free one, its log line names
    it): the intake process serves only the webhooks there, and the main process keeps http.listen.
    The same rules as http.listen: beyond loopback only with a webhook token or http.insecure."""
    restart_backoff: Seconds = Field(default=1.0, gt=0)
    """The first wait before restarting an intake process that died; doubled each time, up to a minute."""


class JournalSettings(_Strict):
    path: Path = Path("data/remediator.sqlite")
    """Relative paths are resolved against the working directory. Put it on a volume in containers."""
    url: str | None = None
    """`postgresql://user@host:5432/dbname?sslmode=require`: the shared PostgreSQL journal, for several
    replicas (then `path` and `synchronous` are unused). None: the embedded SQLite file at `path`."""
    password: SecretRef | None = None
    """The PostgreSQL password, as a secret reference (never in `url`). None: no password (peer, cert)."""
    lease: Seconds = 15.0
    """A replica that has not renewed its lease this long is presumed dead: another takes over its
    unfinished executions (and decides them again). Renewed every third of it."""
    pool_size: int = Field(default=10, ge=3)
    """PostgreSQL connections per replica (intake, deciding, executions and the API share them)."""
    synchronous: Literal["full", "normal"] = "full"
    """`full` fsyncs every group commit, so an acknowledged alert survives a power cut."""
    max_pending_writes: int = Field(default=2000, ge=1)
    """Requests waiting for the group commit. Beyond it the webhook answers 503 (Alertmanager retries)."""
    max_backlog_payloads: int = Field(default=1_000_000, ge=1)
    """Accepted but unprocessed payloads on disk. Beyond it: 503, so a storm cannot fill the disk."""
    batch_size: int = Field(default=256, ge=1)
    """Payloads processed per engine transaction."""

    @model_validator(mode="after")
    def _postgres_url(self) -> JournalSettings:
        if self.url is None:
            return self
        parts = urlsplit(self.url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"journal.url must be a postgresql:// URL, got scheme {parts.scheme!r}")
        if parts.password is not None:
            raise ValueError(
                "journal.url must not hold the password: set journal.password ({env: ...} or {file: ...})"
            )
        return self

    def describe(self) -> str:
        """Where the journal is, without secrets (for logs and status)."""
        if self.url is None:
            return str(self.path)
        return self.url


class KubeSettings(_Strict):
    mode: Literal["auto", "incluster", "kubeconfig", "none"] = "auto"
    """auto: in-cluster if the service account is mounted, else kubeconfig if present, else none (dry-run)."""
    kubeconfig: Path | None = None
    context: str | None = None
    call_timeout: Seconds = 10.0
    """Every API call is bounded: kubernetes-asyncio has no default timeout."""
    max_in_flight: int = Field(default=10, ge=1, le=100)
    """API calls remediator has in flight at once (client-go's default burst): a storm's executions
    queue here instead of piling onto the API server they all depend on. Waiting for a slot is
    bounded by `call_timeout` of its own, and does not count against the call's."""


class WindowLimit(_Strict):
    """At most `count` actions in any window of `per`."""

    count: int = Field(ge=1)
    per: Seconds


class BreakerSettings(_Strict):
    failures: int = Field(default=3, ge=1)
    """Consecutive failed or unverified executions that open the breaker for a rule and target."""
    reset_after: Seconds = 1800.0
    """Open this long, then half-open: one probe decides between closed and open again."""


class RetrySettings(_Strict):
    attempts: int = Field(default=4, ge=1)
    backoff_min: Seconds = 1.0
    backoff_max: Seconds = 30.0
    deadline: Seconds = 120.0
    """No action keeps retrying past this, whatever the attempts left."""


class GuardSettings(_Strict):
    dry_run: bool = False
    """Global dry-run: decide and record plans, change nothing."""
    cooldown: Seconds = 900.0
    """Longer than a typical rollout, so the last fix is judged before acting again."""
    allowed_namespaces: tuple[str, ...] = ()
    """Empty: every namespace not denied."""
    denied_namespaces: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease")
    """The cluster's own namespaces are never remediated unless removed from this list."""
    max_actions_per_target: WindowLimit | None = WindowLimit(count=3, per=3600)
    """Per rule and target. A rule's `guards.max_actions` overrides it."""
    max_actions_per_rule: WindowLimit | None = WindowLimit(count=10, per=3600)
    max_actions_global: WindowLimit | None = WindowLimit(count=30, per=3600)
    storm_brake: WindowLimit | None = WindowLimit(count=10, per=60)
    """Actions per minute across all rules: when alerts storm, automation slows down, not up."""
    circuit_breaker: BreakerSettings = BreakerSettings()
    retry: RetrySettings = RetrySettings()
    max_in_flight: int = Field(default=10, ge=1)
    """Executions running at once across the cluster."""
    max_in_flight_per_namespace: int = Field(default=3, ge=1)
    max_pods_per_delete: int = Field(default=3, ge=1)
    """A rule's delete_pod `max` is clamped to this."""
    max_alert_age: Seconds = 3600.0
    """Older alerts act only if the rule's `confirm` query says the problem still holds."""
    approval_expiry: Seconds = 3600.0
    """A pending approval not decided within this expires (recorded, nothing done)."""
    verify_poll_interval: Seconds = 5.0


class DeferralSettings(_Strict):
    enabled: bool = True
    """A transient denial (target busy, concurrency limit, storm brake) waits and is decided again when a
    slot frees, instead of being dropped until Alertmanager re-sends (4h by default)."""
    retry_every: Seconds = 30.0
    """Also decided again this often while waiting (the storm brake eases with time, not with a slot)."""
    max_waiting: int = Field(default=1000, ge=1)
    """A storm cannot grow the queue past this: the least severe, newest waits are shed (recorded)."""


class SchedulerSettings(_Strict):
    poll_interval: Seconds = 5.0
    """Timers this replica schedules wake it at once; this is how soon it sees those of other replicas."""
    lease: Seconds = 60.0
    """A claimed timer is taken over by another replica this long after its claimer died."""


class PagerDutySettings(_Strict):
    webhook_secrets: tuple[SecretRef, ...] = (SecretRef(env="PAGERDUTY_WEBHOOK_SECRET"),)
    """V3 webhook signing secrets; list two while rotating. None resolved: /webhook/pagerduty answers 401."""
    routing_key: SecretRef | None = SecretRef(env="PAGERDUTY_ROUTING_KEY")
    """Events API v2 integration key for `escalate: {to: pagerduty}`. Never logged."""
    routing_keys: dict[str, SecretRef] = Field(default_factory=dict)
    """More PagerDuty services by name, for escalation ladders (`page: secondary`); `default` is
    `routing_key`."""
    events_url: str = "https://events.pagerduty.com/v2/enqueue"


class AlertmanagerSettings(_Strict):
    url: str | None = None
    """Alertmanager's base URL (http://alertmanager:9093) for `silence` steps. None: silences are skipped."""


class PrometheusSettings(_Strict):
    url: str | None = None
    """Prometheus base URL for `confirm` and PromQL verification. None: such rules skip (`not_confirmed`)."""
    timeout: Seconds = 5.0


class HttpActionSettings(_Strict):
    """Outbound HTTP for `http_request` actions and `http` health checks."""

    allowed_hosts: tuple[str, ...] = ()
    """Globs on the host (`*.shop.svc.cluster.local`) or `host:port`. Empty: no HTTP call is allowed,
    so a rule cannot reach anything the operator did not list (URLs come from rules, values from labels)."""
    max_redirects: int = Field(default=3, ge=0, le=10)
    """Same-origin redirects followed; a redirect to another origin is always refused."""
    max_response_bytes: int = Field(default=65536, ge=1024)
    """Answers are read up to this bound: a health endpoint is small, a runaway one must not fill memory."""


class NotifyChannel(_Strict):
    kind: Literal["slack", "webhook"]
    """slack: a Slack-compatible incoming webhook; webhook: generic JSON POST."""
    url: SecretRef
    """Incoming-webhook URLs embed a secret, so they are references like tokens."""


class NotifySettings(_Strict):
    channels: dict[str, NotifyChannel] = Field(default_factory=dict)
    templates_dir: Path | None = None
    """Overrides for the shipped message templates (same file names)."""


class LadderStepSettings(_Strict):
    """One rung: `after` the incident escalated, `page` a PagerDuty service or `notify` a channel."""

    after: Seconds
    page: str | None = None
    """A name in `pagerduty.routing_keys` (`default`: `pagerduty.routing_key`)."""
    notify: str | None = None
    """A name in `notify.channels`."""

    @model_validator(mode="after")
    def _one_target(self) -> LadderStepSettings:
        if (self.page is None) == (self.notify is None):
            raise ValueError("an escalation step needs exactly one of 'page' or 'notify'")
        if self.after < 0:
            raise ValueError("'after' cannot be negative")
        return self

    def step(self) -> EscalationStep:
        return EscalationStep(after_s=self.after, page=self.page, notify=self.notify)


def _ladders(v: Any) -> Any:
    """Severity words on any scale (P1, SEV1, critical) are keys of the same ladder: normalized to P0-P4."""
    if not isinstance(v, dict):
        return v
    out: dict[str, Any] = {}
    for word, steps in v.items():
        priority = priority_of(str(word))
        if priority is None:
            check_severity(str(word))  # raises, listing the words
        assert priority is not None
        if priority in out:
            raise ValueError(f"severity {word!r} is {priority}, which has a ladder already")
        out[priority] = steps
    return out


class UpdateSettings(_Strict):
    every: Seconds | None = None
    """While an incident is open, send its state this often (the runbooks: 30m). None: no updates."""
    channel: str | None = None
    """Where (a name in `notify.channels`); None: the rule's `notify` channel."""


class IncidentSettings(_Strict):
    escalation: Annotated[dict[str, tuple[LadderStepSettings, ...]], BeforeValidator(_ladders)] = Field(
        default_factory=dict
    )
    """Escalation ladders by severity; a rule's own `escalation:` replaces its severity's. Each step
    fires `after` the incident escalated (automation gave up), while it is open and unacknowledged."""
    updates: UpdateSettings = UpdateSettings()
    watch: Seconds = 0.0
    """After an incident an action fixed resolves, watch it this long: a re-fire re-opens it and
    escalates instead of repeating the action. 0: no watch. A rule's `watch:` overrides it."""
    approvals_channel: str | None = None
    """Where approvers are told of a pending approval (what would change), reminded before it
    expires, and told when it expired. A name in `notify.channels`; None: nobody is told."""
    approval_reminder: Seconds = 900.0
    """How long before an approval expires its reminder goes out."""

    def ladder(self, severity: str | None) -> tuple[EscalationStep, ...]:
        p = priority_of(severity)
        return tuple(s.step() for s in self.escalation.get(p, ())) if p else ()


class LogSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Settings(_Strict):
    """Every section; the names escalation ladders and channels use must be defined (checked here)."""

    http: HttpSettings = HttpSettings()
    auth: AuthSettings = AuthSettings()
    journal: JournalSettings = JournalSettings()
    intake: IntakeSettings = IntakeSettings()
    kubernetes: KubeSettings = KubeSettings()
    guards: GuardSettings = GuardSettings()
    deferral: DeferralSettings = DeferralSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    pagerduty: PagerDutySettings = PagerDutySettings()
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    http_actions: HttpActionSettings = HttpActionSettings()
    notify: NotifySettings = NotifySettings()
    incidents: IncidentSettings = IncidentSettings()
    log: LogSettings = LogSettings()
    rules: tuple[Path, ...] = (Path("rules"),)
    """Rule files or directories. Relative to the working directory."""

    @model_validator(mode="after")
    def _names_defined(self) -> Settings:
        problems = []
        if self.journal.url is not None and self.journal.lease <= self.kubernetes.call_timeout:
            # The lease fences writes: a replica renews it before each attempt; one shorter than a
            # call could lapse while a write is still in flight, and another replica would take over
            # an execution whose write may yet land.
            problems.append(
                f"journal.lease ({self.journal.lease:g}s) must be longer than kubernetes.call_timeout"
                f" ({self.kubernetes.call_timeout:g}s), or a write could land after another replica"
                " took its execution over"
            )
        for severity, steps in self.incidents.escalation.items():
            problems += ladder_problems(
                self, [s.step() for s in steps], where=f"incidents.escalation.{severity}"
            )
        channels = set(self.notify.channels)
        for key, name in (
            ("incidents.updates.channel", self.incidents.updates.channel),
            ("incidents.approvals_channel", self.incidents.approvals_channel),
        ):
            if name is not None and name not in channels:
                problems.append(f"{key}: {name!r} is not in notify.channels")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def ladder_problems(settings: Settings, steps: Sequence[EscalationStep], *, where: str) -> list[str]:
    """Names in escalation steps that the config does not define: a page nobody would get."""
    pagers = {"default", *settings.pagerduty.routing_keys}
    channels = set(settings.notify.channels)
    problems = []
    for i, step in enumerate(steps):
        if step.page is not None and step.page not in pagers:
            problems.append(f"{where}[{i}]: page {step.page!r} is not in pagerduty.routing_keys")
        if step.notify is not None and step.notify not in channels:
            problems.append(f"{where}[{i}]: notify {step.notify!r} is not in notify.channels")
    return problems


def load_settings(path: Path | None) -> Settings:
    """Settings from `path` (None: built-in defaults). Errors name the file and the key."""
    if path is None:
        return Settings()
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror}") from e
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping of sections")
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"{path}: {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from e


def config_path(flag: str | None) -> Path | None:
    """The config file: the --config flag, else $REMEDIATOR_CONFIG, else config/remediator.yaml if present."""
    if flag:
        return Path(flag)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    default = Path("config/remediator.yaml")
    return default if default.exists() else None


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"listen address {listen!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def is_loopback(host: str) -> bool:
    """True only if `host` is, or resolves only to, loopback addresses (127.0.0.0/8, ::1).

    An IP literal is judged by `ipaddress` (so `127.evil.example` is a name, not a loopback address);
    a name by every address it resolves to. Raises ConfigError for a name that does not resolve."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise ConfigError(
            f"listen address: cannot resolve host {host!r}: {getattr(e, 'strerror', e)}"
        ) from None
    addresses = {str(info[4][0]).split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)
