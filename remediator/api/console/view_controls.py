"""The console's controls page: pause and resume (all rules or one), dry-run, with the current mode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from remediator.api.console.html import Html, join, tag
from remediator.api.console.views import (
    Actor,
    ModeView,
    form,
    mode_banner,
    read_only_note,
    rule_modes,
    select,
    text_field,
)

PAUSE_CHOICES: tuple[tuple[str, str], ...] = (
    ("15m", "15 minutes"),
    ("30m", "30 minutes"),
    ("1h", "1 hour"),
    ("2h", "2 hours"),
    ("4h", "4 hours"),
    ("8h", "8 hours"),
    ("", "until resumed"),
)


# -- controls -------------------------------------------------------------------------------------------


def controls_page(*, mode: ModeView, rules: Sequence[str], actor: Actor, now: datetime) -> Html:
    scope = [("", "everything"), *((r, f"rule {r}") for r in rules)]
    parts: list[object] = [mode_banner(mode, now), rule_modes(mode, now), read_only_note(actor)]
    if not actor.can_act:
        return join(parts)
    paused = [("", "everything")] if mode.paused else []
    paused += [(r, f"rule {r}") for r in sorted(mode.paused_rules)]
    parts += [
        tag("h2", "Pause"),
        tag(
            "div",
            tag("p", "Paused rules decide and record, and act on nothing.", class_="muted"),
            form(
                "/ui/pause",
                actor,
                select("rule", "What", scope, key="pause"),
                select("for", "For", PAUSE_CHOICES, "1h", key="pause"),
                text_field(
                    "reason", "Reason", required=True, key="pause", placeholder="e.g. database migration"
                ),
                button="Pause",
                style="danger",
            ),
            class_="card",
        ),
    ]
    if paused:
        parts += [
            tag("h2", "Resume"),
            tag(
                "div",
                form(
                    "/ui/resume",
                    actor,
                    select("rule", "What", paused, key="resume"),
                    text_field("reason", "Reason", required=True, key="resume"),
                    button="Resume",
                ),
                class_="card",
            ),
        ]
    parts += [
        tag("h2", "Dry-run"),
        tag(
            "div",
            tag("p", "In dry-run, decisions record the plan (the diff) and change nothing.", class_="muted"),
            form(
                "/ui/dry-run",
                actor,
                select("rule", "What", scope, key="dry"),
                select("enabled", "Dry-run", (("on", "on"), ("off", "off")), key="dry"),
                text_field("reason", "Reason", required=True, key="dry"),
                button="Set dry-run",
            ),
            class_="card",
        ),
    ]
    return join(parts)
