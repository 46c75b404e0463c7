"""Safe HTML by construction: every plain string is escaped, only `Html` passes through.

Alert labels, annotations, reasons and rule names are attacker-controlled (anyone who can make an
alert fire chooses its labels), so nothing reaches a page unescaped: `tag()` escapes its text
children and attribute values, and `Html` is only produced here (by `tag`, `esc`, `join`) or from
literals in this package. URLs taken from alerts become links only when they are http(s).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from urllib.parse import urlsplit


class Html(str):
    """Markup that is already safe: escaping it again would show the tags."""

    __slots__ = ()


def esc(value: object) -> Html:
    """`value` as text: Html passes through, anything else is escaped (quotes included)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(esc(sep).join(_children(parts)))


def _children(children: Iterable[object]) -> list[Html]:
    out: list[Html] = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, str | int | float):
            out.append(esc(child))
        else:
            out.extend(_children(child))  # type: ignore[arg-type]
    return out


_VOID = frozenset({"br", "hr", "img", "input", "meta", "link"})


def tag(element: str, /, *children: object, **attrs: object) -> Html:
    """`<element attrs>children</element>`. Attribute names come from code (`class_` -> `class`,
    `data_x` -> `data-x`); values are escaped; True means a bare attribute, None/False leaves it out."""
    parts = [element]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        parts.append(attr if value is True else f'{attr}="{esc(value)}"')
    opening = "<" + " ".join(parts) + ">"
    if element in _VOID:
        return Html(opening)
    return Html(opening + "".join(_children(children)) + f"</{element}>")


def safe_url(url: object) -> str | None:
    """`url` if it is an absolute http(s) URL, else None: a label saying `javascript:...` stays text."""
    if not isinstance(url, str) or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def link_or_text(url: object, text: object | None = None) -> Html:
    """A link for an http(s) URL (opened without a referrer), the escaped text otherwise."""
    href = safe_url(url)
    shown = text if text is not None else url
    if href is None:
        return esc(shown)
    return tag("a", shown, href=href, rel="noopener noreferrer nofollow", target="_blank")
