"""Templated URLs for `http_request` actions and `http` health checks, safe against label values.

Label values are attacker-controlled (whatever Prometheus scraped), so a URL may hold
`{{ labels.x }}` placeholders only in its path and query, never in the scheme, host, port or
user info: the origin is fixed at load time, and `http_actions.allowed_hosts` is checked against
it. Each substituted value is percent-encoded as one path segment or query value (`/`, `?`, `&`,
`=`, `#` and `%` included), and a value that is empty, `.` or `..` is refused, so a label can
neither add a path segment, a query parameter or a fragment, nor climb out of its segment.
After rendering, the URL is parsed again and must still have the template's origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from remediator.model import Alert
from remediator.rules.templates import FieldRef, RenderError, Template

SCHEMES = ("http", "https")
_HOST = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*|\[[0-9a-f:.]+\]")
_MAX_URL = 2048


@dataclass(frozen=True, slots=True)
class UrlTemplate:
    """A URL whose origin (scheme, host, port) is literal and whose path and query may be templated."""

    source: str
    template: Template
    scheme: str
    host: str
    port: int | None

    @property
    def origin(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}"

    @property
    def host_port(self) -> str:
        """`host:port` with the scheme's default port filled in (what `allowed_hosts` patterns see)."""
        return f"{self.host}:{self.port or (443 if self.scheme == 'https' else 80)}"

    @classmethod
    def parse(cls, text: str) -> UrlTemplate:
        """Parse and check `text`; raises ValueError naming what is wrong."""
        if len(text) > _MAX_URL:
            raise ValueError(f"URL is longer than {_MAX_URL} characters")
        template = Template.parse(text)
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in template.literal_text()):
            raise ValueError(f"URL {text!r} contains a space or a control character")
        first_ref = next((i for i, p in enumerate(template.parts) if isinstance(p, FieldRef)), None)
        prefix = "".join(str(p) for p in template.parts[:first_ref]) if first_ref is not None else text
        parts = urlsplit(prefix)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"URL {text!r} must start with http:// or https:// (literal, not a template)")
        if "#" in template.literal_text():
            raise ValueError(f"URL {text!r}: a fragment ('#') is never sent to the server; remove it")
        netloc = parts.netloc
        if first_ref is not None and (not parts.path and not parts.query and "?" not in prefix):
            raise ValueError(
                f"URL {text!r}: templates are allowed only in the path and query, never in the host or port "
                "(write the host literally, e.g. https://api.shop.svc/{{ labels.x }})"
            )
        if "@" in netloc:
            raise ValueError(
                f"URL {text!r}: credentials in the URL are not allowed; use a header with a secret reference"
            )
        host = (parts.hostname or "").lower()
        if not host or _HOST.fullmatch(host if ":" not in host else f"[{host}]") is None:
            raise ValueError(f"URL {text!r}: {netloc!r} is not a valid host")
        try:
            port = parts.port
        except ValueError as e:
            raise ValueError(f"URL {text!r}: {e}") from None
        if ":" in host:
            host = f"[{host}]"
        return cls(source=text, template=template, scheme=parts.scheme, host=host, port=port)

    def render(self, alert: Alert) -> str | RenderError:
        """The URL for this alert with every substituted value percent-encoded, or why there is none."""
        refused: list[str] = []

        def encode(value: str) -> str:
            if value in (".", ".."):
                refused.append(value)
            return quote(value, safe="")

        url = self.template.render(alert, escape=encode)
        if isinstance(url, RenderError):
            return url
        if refused:
            return RenderError(f"a label value {refused[0]!r} cannot be a URL path segment")
        if len(url) > _MAX_URL:
            return RenderError(f"rendered URL is longer than {_MAX_URL} characters")
        again = urlsplit(url)
        if again.scheme != self.scheme or again.netloc.lower() != self.origin.split("://", 1)[1]:
            return RenderError(f"rendered URL {url!r} does not keep the origin {self.origin}")
        return url

    def __str__(self) -> str:
        return self.source


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute URL, the port defaulted by scheme. Raises ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.lower(), port
