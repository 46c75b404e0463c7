"""Console input, checked before use: query strings and urlencoded forms.

Everything a browser sends is input: an unknown or repeated parameter, an over-long value, a body
that is not a urlencoded form or not UTF-8 is refused with a one-line reason (400, or 415 for the
wrong content type), so nothing malformed reaches the read model or the override service.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl

from aiohttp import web

MAX_FORM_BYTES = 16 * 1024
MAX_FIELD_CHARS = 4096
FORM_TYPE = "application/x-www-form-urlencoded"


class BadInput(Exception):
    """The request is malformed; `status` and the message are the answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _clean(name: str, value: str) -> str:
    if len(value) > MAX_FIELD_CHARS:
        raise BadInput(f"{name[:40]!r} is too long ({len(value)} characters; at most {MAX_FIELD_CHARS})")
    if any(ord(ch) < 32 and ch not in "\t\r\n" for ch in value) or "\x7f" in value:
        raise BadInput(f"{name[:40]!r} contains control characters")
    return value


def _unique(pairs: Iterable[tuple[str, str]], allowed: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            accepted = ", ".join(allowed) or "none"
            raise BadInput(f"unknown {what} {name[:40]!r}; this page takes {accepted}")
        if name in out:
            raise BadInput(f"{what} {name!r} given twice")
        out[name] = _clean(name, value)
    return out


def query(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, each at most once and all of them known."""
    try:
        pairs = list(request.query.items())
    except UnicodeDecodeError:
        raise BadInput("the query string is not valid UTF-8") from None
    return _unique(pairs, allowed, "query parameter")


async def form(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The urlencoded body of a POST (what an HTML form sends), each field at most once."""
    if request.content_type != FORM_TYPE:
        raise BadInput(f"send the form as {FORM_TYPE}, not {request.content_type or 'nothing'}", 415)
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise BadInput(f"form too large (at most {MAX_FORM_BYTES} bytes)", 413)
    raw = await request.content.read(MAX_FORM_BYTES + 1)
    if len(raw) > MAX_FORM_BYTES:
        raise BadInput(f"form too large (at most {MAX_FORM_BYTES} bytes)", 413)
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=len(allowed) + 1, errors="strict")
    except UnicodeDecodeError:
        raise BadInput("the form is not valid UTF-8") from None
    except ValueError as e:
        raise BadInput(f"malformed form: {e}") from None
    return _unique(pairs, allowed, "form field")


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a console page of ours, never another site (`//evil`, `/\\evil`)."""
    if (
        not value
        or len(value) > 500
        or not value.startswith("/ui/")
        or "//" in value
        or "\\" in value
        or any(ord(ch) < 33 for ch in value)
    ):
        return "/ui/"
    return value


def positive_id(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) == 0 or int(text) >= 2**63:
        raise BadInput(f"{what} id must be a positive integer, not {text[:40]!r}")
    return int(text)
