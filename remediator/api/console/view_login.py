"""The console's login form: where the tokens come from, and a field for one."""

from __future__ import annotations

from collections.abc import Sequence

from remediator.api.console.html import Html, join, tag
from remediator.api.console.layout import hidden

# -- login ----------------------------------------------------------------------------------------------


def login_page(*, csrf: str, next_path: str, error: str, token_sources: Sequence[str]) -> Html:
    sources = (
        tag(
            "p",
            "Tokens come from auth.api_tokens in the config: ",
            ", ".join(token_sources),
            ".",
            class_="muted",
        )
        if token_sources
        else tag(
            "p",
            "No API token is configured: set REMEDIATOR_ADMIN_TOKEN (or auth.api_tokens) and restart.",
            class_="banner warn",
        )
    )
    return join(
        [
            tag("p", error, class_="banner bad", role="alert") if error else "",
            tag(
                "form",
                hidden("csrf", csrf),
                hidden("next", next_path),
                tag(
                    "div",
                    tag("label", "API token", for_="f-token"),
                    tag(
                        "input",
                        type="password",
                        name="token",
                        id="f-token",
                        required=True,
                        autocomplete="current-password",
                        maxlength="4096",
                        autofocus=True,
                    ),
                ),
                tag("div", tag("button", "Log in", type="submit", class_="primary"), class_="buttons"),
                method="post",
                action="/ui/login",
                class_="act card",
            ),
            sources,
        ]
    )
