"""The console's shared view pieces, from plain data to safe HTML: forms and fields, diffs, pagers,
the mode banner, incident links and the error body. Each page's body is in its own `view_*.py`;
no I/O in any of them: pages.py, changes.py and login.py read and call, these only render.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from remediator import yamldiff
from remediator.api.console.html import Html, esc, join, tag
from remediator.api.console.layout import hidden, when
from remediator.engine.mode import Pause


@dataclass(frozen=True, kw_only=True)
class ModeView:
    overall: str
    """running, paused or dry-run."""
    paused: Pause | None
    paused_rules: Mapping[str, Pause]
    dry_run_reason: str | None
    dry_run_rules: Sequence[str]


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who looks at the page, and what the forms need."""

    can_act: bool
    csrf: str


# -- shared pieces ------------------------------------------------------------------------------------


def form(action: str, actor: Actor, *fields: object, button: str, style: str = "primary") -> Html:
    return tag(
        "form",
        hidden("csrf", actor.csrf),
        fields,
        tag("div", tag("button", button, type="submit", class_=style), class_="buttons"),
        method="post",
        action=action,
        class_="act",
    )


def text_field(
    name: str, label: str, *, required: bool = False, placeholder: str = "", key: object = ""
) -> Html:
    """A labelled text input; `key` tells apart the ids of several forms on one page."""
    field_id = f"f-{name}{'-' + str(key) if key != '' else ''}"
    return tag(
        "div",
        tag("label", label, for_=field_id),
        tag(
            "input",
            type="text",
            name=name,
            id=field_id,
            required=required,
            maxlength="2000",
            placeholder=placeholder or None,
            autocomplete="off",
        ),
    )


def select(
    name: str, label: str, options: Sequence[tuple[str, str]], selected: str = "", *, key: object = ""
) -> Html:
    field_id = f"f-{name}{'-' + str(key) if key != '' else ''}"
    return tag(
        "div",
        tag("label", label, for_=field_id),
        tag(
            "select",
            [tag("option", text, value=value, selected=value == selected) for value, text in options],
            name=name,
            id=field_id,
        ),
    )


def value_text(v: Any) -> str:
    if v is None:
        return "(unset)"
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def diff(changes: Iterable[tuple[str, Any, Any]], *, target_key: str, applied: bool) -> Html:
    """Changed fields as `kubectl diff` shows them (the YAML of the part that changes, the same
    rendering as `remediator ctl`), removed lines and added lines coloured."""
    lines = yamldiff.render(
        changes,
        target_key=target_key,
        after_label="applied" if applied else "planned",
    )
    shown: list[Html] = []
    for line in lines:
        if line.startswith("-") and not line.startswith("---"):
            shown.append(tag("span", line, class_="del"))
        elif line.startswith("+") and not line.startswith("+++"):
            shown.append(tag("span", line, class_="add"))
        else:
            shown.append(esc(line))
    return tag("pre", join(shown, "\n"), class_="diff")


def pager(base: str, params: Mapping[str, str], cursor: str | None) -> Html:
    if cursor is None:
        return esc("")
    query = urlencode({**{k: v for k, v in params.items() if v}, "cursor": cursor})
    return tag("div", tag("span", ""), tag("a", "Older →", href=f"{base}?{query}"), class_="pager")


def read_only_note(actor: Actor) -> Html:
    if actor.can_act:
        return esc("")
    return tag("p", "Read-only token: log in with an admin token to change anything.", class_="muted")


def where(labels: Mapping[str, Any]) -> str:
    parts = [labels.get("namespace"), labels.get("deployment") or labels.get("service") or labels.get("pod")]
    return "/".join(str(p) for p in parts if p)


def incident_href(incident_id: object) -> str:
    return "/ui/incidents/" + quote(str(incident_id), safe="")


def incident_title(i: Mapping[str, Any]) -> str:
    place = where(i.get("labels") or {})
    return f"{i.get('alertname') or 'alert'}" + (f" on {place}" if place else "")


# -- now ------------------------------------------------------------------------------------------------


def mode_banner(mode: ModeView, now: datetime) -> Html:
    if mode.paused is not None:
        p = mode.paused
        until = [" until ", when(p.until.isoformat(), now)] if p.until else [" until resumed"]
        return tag(
            "div",
            tag("strong", "PAUSED: nothing acts"),
            f"by {p.by}",
            until,
            f": {p.reason}",
            class_="banner bad",
        )
    if mode.overall == "dry-run":
        return tag(
            "div",
            tag("strong", "DRY-RUN: decisions are recorded, nothing changes"),
            mode.dry_run_reason or "",
            class_="banner info",
        )
    return tag("div", tag("strong", "RUNNING: remediator acts on alerts"), class_="banner ok")


def rule_modes(mode: ModeView, now: datetime) -> Html:
    items = [
        tag(
            "li",
            tag("span", name, class_="title"),
            " paused by ",
            p.by,
            ": ",
            p.reason,
            [" (until ", when(p.until.isoformat(), now), ")"] if p.until else "",
        )
        for name, p in sorted(mode.paused_rules.items())
    ]
    items += [tag("li", tag("span", name, class_="title"), " in dry-run") for name in mode.dry_run_rules]
    return tag("ul", items, class_="list card") if items else esc("")


def error_body(message: str, *, back: str = "/ui/") -> Html:
    return join([tag("p", message, class_="banner bad", role="alert"), tag("p", tag("a", "Back", href=back))])
