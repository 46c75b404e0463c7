"""Every command example a user can copy (README.md, docs/*.md, `--help` epilogs) runs against the shipped
rules, and every example payload matches the rules examples/README.md says it matches.

The daemon is tests/api's (real journal, fake cluster with shop/checkout, search, image-gen and
image-gen-worker, tokens) with the repository's rules/ loaded and examples/alerts/firing.json
received, so the incident the docs name exists. Examples run in the order they are written:
`remediator ctl` ones through ctl's own entry point, curl ones as the HTTP request they make.
A command that names an id no fresh daemon has (`executions 42`, `approve 7`) must reach the API
and be answered 404 for that id: the syntax, the route and the rule names are what is checked.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from remediator.cli import parser as cli_parser
from remediator.receivers.alertmanager import normalize_journaled
from remediator.rules import load_rules
from tests.api import conftest as _daemon
from tests.api.conftest import ADMIN, Api
from tests.conftest import EXAMPLES, REPO
from tests.test_ctl import run_ctl

api_clock = _daemon.api_clock
api_kube = _daemon.api_kube
api_settings = _daemon.api_settings
api_app = _daemon.api_app
api = _daemon.api

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), EXAMPLES / "README.md"]
SHIPPED = {r.name for r in load_rules([REPO / "rules"])}
# ids a fresh daemon cannot have: answered 404 for that id, which proves the command reached the API
UNKNOWN_IDS = re.compile(r"(executions|approve|reject|approvals)[ /](42|7|8)\b|reset ")


@pytest.fixture
def api_rules_dir() -> Path:
    return REPO / "rules"


def shell_commands(text: str) -> list[str]:
    """Commands in ```sh blocks, continuation lines joined, comments dropped."""
    out: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        out.extend(line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#"))
    return out


def help_examples() -> list[str]:
    """The `example:` lines of every --help, from the parsers themselves."""
    found: list[str] = []

    def walk(p: argparse.ArgumentParser) -> None:
        if p.epilog and "example:" in p.epilog:
            found.extend(
                line.strip() for line in p.epilog.split("example:", 1)[1].splitlines() if line.strip()
            )
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(cli_parser())
    return found


def ctl_argv(command: str, url: str) -> list[str] | None:
    """`remediator ctl ...` as argv for ctl (env prefixes dropped, redirections cut, --url pointed here)."""
    words = shlex.split(command, comments=True)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)
    if words[:2] != ["remediator", "ctl"]:
        return None
    words = words[2 : words.index(">")] if ">" in words else words[2:]
    if "--url" in words:
        words[words.index("--url") + 1] = url
    return words


def all_examples() -> list[tuple[str, str]]:
    found = [(doc.name, c) for doc in DOCS for c in shell_commands(doc.read_text())]
    return found + [("--help", c) for c in help_examples()]


def test_every_help_example_parses() -> None:
    for source, command in all_examples():
        words = shlex.split(command, comments=True)
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            words.pop(0)
        if words[:1] != ["remediator"]:
            continue
        cut = words.index(">") if ">" in words else len(words)
        try:
            cli_parser().parse_args(words[1:cut])
        except SystemExit as e:
            pytest.fail(f"{source}: {command!r} does not parse (exit {e.code})")


def test_rule_names_in_examples_are_shipped() -> None:
    named = set()
    for _source, command in all_examples():
        named |= set(
            re.findall(r"(?:--rule |trigger |ctl rules |reset |/rules/|\"rule\": \")([a-z0-9-]+)", command)
        )
    assert named and named <= SHIPPED, named - SHIPPED


async def test_every_command_example_runs_against_the_shipped_rules(api: Api) -> None:
    await api.alert(json.loads((EXAMPLES / "alerts" / "firing.json").read_text())["alerts"][0])
    url = str(api.client.make_url("/")).rstrip("/")
    ran = 0
    for source, command in all_examples():
        if command.startswith("curl") and "$REMEDIATOR_URL" in command:
            status, body = await _curl(api, command)
        elif (argv := ctl_argv(command, url)) is not None:
            code, out = await run_ctl(api, *argv, token=ADMIN)
            status, body = (200 if code == 0 else 404 if "404" in out or "no such" in out else 500), out
        else:
            continue
        ran += 1
        if UNKNOWN_IDS.search(command):
            assert status == 404, f"{source}: {command}\n{body}"
        else:
            assert status < 300, f"{source}: {command}\n{body}"
        await api.app.drained()
    assert ran >= 40


async def _curl(api: Api, command: str) -> tuple[int, Any]:
    words = shlex.split(command.split(" > ", 1)[0])
    method = "GET"
    body: Any = None
    url = ""
    for i, w in enumerate(words):
        if w.startswith("-X"):
            method = w[2:] or words[i + 1]
        elif w == "-d":
            body = json.loads(words[i + 1])
        elif w.startswith("$REMEDIATOR_URL"):
            url = w.removeprefix("$REMEDIATOR_URL/api/v1")
    assert url, command
    return await api.call(method, url, body, token=ADMIN)


def test_example_payloads_match_the_rules_the_table_names() -> None:
    rules = load_rules([REPO / "rules"])
    table = re.findall(
        r"^\| (\S+\.json) \| .*? \| (.*?) \|$", (EXAMPLES / "README.md").read_text(), flags=re.M
    )
    assert {name for name, _ in table} == {p.name for p in (EXAMPLES / "alerts").glob("*.json")}
    for name, listed in table:
        expected = set(re.findall(r"`([a-z0-9-]+)`", listed))
        for alert in normalize_journaled((EXAMPLES / "alerts" / name).read_bytes()):
            assert {r.name for r in rules.match(alert)} == expected, name
