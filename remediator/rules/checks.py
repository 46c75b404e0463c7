"""Compiled health checks and secret references: what `confirm` and `verify` evaluate, frozen.

An `HttpCheck` is a templated URL (origin fixed, rules/urls.py), headers (literal or secret
references), the expected status codes and an optional JSON condition. A `MetricCheck` is a
PromQL query that must come back under a threshold. The stages that run them (the confirm
guard, verification, the watch) take these values; this module only describes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediator.model import Alert
from remediator.rules.jsonpath import JsonCondition
from remediator.rules.templates import RenderError, Template
from remediator.rules.urls import UrlTemplate


class SecretUnavailable(Exception):
    """A secret reference that cannot be read (variable unset, file missing). Says which, never the value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretValue:
    """`{env: NAME}` or `{file: /path}`, optional prefix ("Bearer "): resolved when used, never stored."""

    env: str | None = None
    file: str | None = None
    prefix: str = ""

    def resolve(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise SecretUnavailable(f"secret env {self.env} is not set")
        else:
            assert self.file is not None
            try:
                value = Path(self.file).read_text().strip()
            except OSError as e:
                raise SecretUnavailable(f"secret file {self.file}: {e.strerror}") from None
            if not value:
                raise SecretUnavailable(f"secret file {self.file} is empty")
        if any(ord(c) < 0x20 for c in value):
            raise SecretUnavailable(f"secret {self.describe()} contains a newline or a control character")
        return self.prefix + value

    def describe(self) -> str:
        """For plans and logs: where the secret lives, never what it is."""
        return f"<secret env {self.env}>" if self.env else f"<secret file {self.file}>"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SecretValue:
        return cls(env=params.get("env"), file=params.get("file"), prefix=str(params.get("prefix") or ""))


Header = str | SecretValue


def headers_from_params(raw: Mapping[str, Any]) -> dict[str, Header]:
    """Action params keep headers as plain data (`{"env": ...}` for a secret); this rebuilds the values."""
    return {k: (SecretValue.from_params(v) if isinstance(v, Mapping) else str(v)) for k, v in raw.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCheck:
    url: UrlTemplate
    headers: Mapping[str, Header]
    expect_status: tuple[int, ...] = (200,)
    condition: JsonCondition | None = None
    timeout_s: float = 5.0

    def render_url(self, alert: Alert) -> str | RenderError:
        return self.url.render(alert)

    def describe(self) -> str:
        cond = f" and {self.condition}" if self.condition is not None else ""
        return f"GET {self.url} answers {'/'.join(map(str, self.expect_status))}{cond}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricCheck:
    query: Template
    below: float
    within_s: float


def compile_http_check(model: Any) -> HttpCheck:
    """From a validated `HttpCheckModel` (typed Any to keep schema.py out of this module's imports)."""
    return HttpCheck(
        url=UrlTemplate.parse(model.url),
        headers={
            k: (SecretValue(env=v.env, file=v.file, prefix=v.prefix) if not isinstance(v, str) else v)
            for k, v in model.headers.items()
        },
        expect_status=tuple(model.expect_status),
        condition=JsonCondition.parse(model.condition) if model.condition is not None else None,
        timeout_s=model.timeout,
    )
