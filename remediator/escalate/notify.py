"""Notifications to humans: incident, update and resolution messages to Slack or a generic webhook.

Called by the notify and escalation steps, so the people watching a channel learn what remediator is
doing without being paged. Results come back as values and nothing is raised: a chat outage must not
fail a remediation.

Messages are rendered from four templates shipped in `remediator/templates/` (`incident.txt`,
`update.txt`, `resolution.txt`, `approval.txt`), shaped like incident-communication templates; a file
of the same name in `notify.templates_dir` replaces the shipped one. Rendering is `string.Template`:
`$name` and `${name}` are looked up in the context and nothing else happens, so an alert label can
never run code or reach attributes, whatever it contains. A placeholder missing from the context
renders as `n/a`.

Context keys the shipped templates use:
- all: `title`, `severity`, `status`, `services`, `link`; `sent_at` defaults to now (UTC, ISO 8601).
- incident: `started_at`, `impact`, `actions` (what is being done), `next_update`, `alert`, `rule`.
- update: `actions_tried`, `current_state`, `next_update`.
- resolution: `duration`, `root_cause`, `actions` (what was done), `follow_ups`.
- approval: `rule`, `actions`, `changes` (what would change), `reason`, `expires_at`; `status` is
  `needed`, `reminder` or `expired`.

Slack messages escape `&`, `<` and `>` in context values (Slack's own rule), so a label cannot inject
`<!channel>` or a disguised link; the template text itself may use Slack formatting. Channel URLs
embed a secret: they never appear in a log line, a message or a repr.
"""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal, NamedTuple

import aiohttp
from yarl import URL

from remediator.actions.retry import RetryPolicy, attempts_of
from remediator.clock import Clock
from remediator.config import NotifySettings
from remediator.errors import ConfigError, RemediatorError
from remediator.escalate._http import send_json_with_retries
from remediator.logs import get_logger
from remediator.secrets import Secret

log = get_logger("remediator.actions")

ChannelKind = Literal["slack", "webhook"]
TemplateName = Literal["incident", "update", "resolution", "approval"]
TEMPLATE_NAMES: tuple[TemplateName, ...] = ("incident", "update", "resolution", "approval")
MISSING = "n/a"


class Channel(NamedTuple):
    """A notification channel with its secret URL resolved (a `Secret`: the repr hides it)."""

    kind: ChannelKind
    url: Secret


def resolve_channels(settings: NotifySettings) -> dict[str, Channel]:
    """Channels whose URL secret is set. An unset one is left out with a warning, like an unset
    routing key: sending to it then fails with "not configured" instead of stopping the daemon."""
    channels: dict[str, Channel] = {}
    for name, ch in settings.channels.items():
        url = ch.url.resolve()
        if url is None:
            log.warning(
                "notify channel disabled: its URL secret is not set", channel=name, url=ch.url.describe()
            )
            continue
        with contextlib.suppress(ValueError, TypeError):
            # Servers echo the path in errors, and an incoming-webhook URL carries its secret there.
            path = URL(url.reveal()).raw_path_qs
            if len(path) > 1:
                Secret(path)
        channels[name] = Channel(ch.kind, url)
    return channels


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyResult:
    status: Literal["sent", "failed"]
    attempts: int
    channel: str
    template: TemplateName
    error: str = ""
    """Why it failed, one line, without the channel URL. Empty when sent."""

    @property
    def ok(self) -> bool:
        return self.status == "sent"


class _Context(dict[str, str]):
    """What `Template.safe_substitute` looks names up in: unknown names become `n/a`."""

    def __missing__(self, key: str) -> str:
        return MISSING


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def load_templates(templates_dir: Path | None) -> dict[TemplateName, Template]:
    """The three templates, `templates_dir` overriding the shipped files. Raises ConfigError at start-up
    for an unreadable override or one with an invalid placeholder (a lone `$`: write `$$`)."""
    if templates_dir is not None and not templates_dir.is_dir():
        raise ConfigError(f"notify.templates_dir {str(templates_dir)!r} is not a directory")
    shipped = importlib.resources.files("remediator").joinpath("templates")
    templates: dict[TemplateName, Template] = {}
    for name in TEMPLATE_NAMES:
        filename = f"{name}.txt"
        override = templates_dir / filename if templates_dir is not None else None
        if override is not None and override.is_file():
            where = str(override)
            try:
                text = override.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"{where}: cannot read template: {e}") from e
        else:
            where = f"remediator/templates/{filename}"
            text = shipped.joinpath(filename).read_text(encoding="utf-8")
        template = Template(text)
        if not template.is_valid():
            raise ConfigError(f"{where}: invalid placeholder; use $name or ${{name}}, and $$ for a literal $")
        templates[name] = template
    return templates


class Notifier:
    """Renders the message templates and posts them to the configured channels."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        channels: Mapping[str, Channel],
        templates_dir: Path | None,
        clock: Clock,
        retry: RetryPolicy,
        timeout_s: float = 10,
    ) -> None:
        self._session = session
        self._channels = dict(channels)
        self._templates = load_templates(templates_dir)
        self._clock = clock
        self._retry = retry
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"Notifier(channels={sorted(self._channels)!r})"

    @property
    def channels(self) -> list[str]:
        return sorted(self._channels)

    def render(self, template: TemplateName, context: Mapping[str, str]) -> str:
        """The message, as plain text (no escaping for any chat flavour)."""
        return self._render(template, context, slack=False)

    def _render(self, template: TemplateName, context: Mapping[str, str], *, slack: bool) -> str:
        values = _Context({"sent_at": self._clock.now().isoformat(timespec="seconds")})
        for key, value in context.items():
            text = str(value)
            values[key] = _slack_escape(text) if slack else text
        return self._templates[template].safe_substitute(values)

    async def send(self, channel: str, template: TemplateName, context: Mapping[str, str]) -> NotifyResult:
        """Render `template` and post it to `channel`, retrying 429/5xx/network errors. Never raises."""
        target = self._channels.get(channel)
        if target is None:
            error = f"notify: channel {channel!r} is not configured"
            log.warning("notification failed", channel=channel, template=template, error=error)
            return NotifyResult(status="failed", attempts=0, channel=channel, template=template, error=error)
        if target.kind == "slack":
            body: dict[str, object] = {"text": self._render(template, context, slack=True)}
        else:
            body = {
                "template": template,
                "text": self._render(template, context, slack=False),
                "context": {k: str(v) for k, v in context.items()},
            }
        what = f"notify {channel!r}"
        try:
            _, attempts = await send_json_with_retries(
                self._session,
                "POST",
                target.url.reveal(),
                what=what,
                clock=self._clock,
                retry=self._retry,
                timeout_s=self._timeout_s,
                body=body,
            )
        except RemediatorError as e:
            result = NotifyResult(
                status="failed", attempts=attempts_of(e), channel=channel, template=template, error=str(e)
            )
        except Exception as e:  # never raise out of a notification; no traceback: it would show the URL
            error = f"{what}: {type(e).__name__}: {e}".replace(target.url.reveal(), "<redacted>")
            result = NotifyResult(
                status="failed", attempts=attempts_of(e), channel=channel, template=template, error=error
            )
        else:
            result = NotifyResult(status="sent", attempts=attempts, channel=channel, template=template)
        if result.ok:
            log.info("notification sent", channel=channel, template=template, attempts=result.attempts)
        else:
            log.warning(
                "notification failed",
                channel=channel,
                template=template,
                attempts=result.attempts,
                error=result.error,
            )
        return result
