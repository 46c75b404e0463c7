"""`remediator ctl`: the override API from a terminal, for an on-call at 3 a.m.

A thin client of /api/v1 (api/routes.py): HTTP on the standard library (client.py), the answers
parsed into the API's own models (api/models.py, which imports nothing of the daemon), so it works
from any box that has the package with no event loop. The daemon's URL and token come from
`--url`/`--token`, else `REMEDIATOR_URL`/`REMEDIATOR_TOKEN` (prefer the variable for the token:
arguments show in `ps`). Every command prints a table for a human, or the API's own answer with
`--output json` or `--output yaml` (for scripts, jq and yq). Commands are in commands.py (the incident
board, deferred work and timers in board.py), tables in render.py.

Exit status: 0 done; 1 the API refused (its error and detail are printed); 2 usage, no token, or
the daemon could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from remediator.ctl import render
from remediator.ctl.client import Client, CtlError
from remediator.ctl.commands import DEFAULT_URL, ENV_TOKEN, ENV_URL, configure

__all__ = ["DEFAULT_URL", "ENV_TOKEN", "ENV_URL", "Client", "CtlError", "configure", "main", "parser", "run"]


def run(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the parsed ctl command; print its result (or the API's error) and return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    env = os.environ if environ is None else environ
    url = args.url or env.get(ENV_URL) or DEFAULT_URL
    token = args.token or env.get(ENV_TOKEN)
    try:
        if not token:
            raise CtlError(f"no API token: pass --token or set {ENV_TOKEN}", code=2)
        answer = args.command(Client(url, token), args)
        text = answer.text() if args.output == "table" else render.as_data(answer.data, args.output)
    except CtlError as e:
        print(f"remediator ctl: {e}", file=err)
        if e.detail:
            items = e.detail if isinstance(e.detail, list) else [e.detail]
            for item in items:
                print(f"  {item}", file=err)
        return e.code
    try:
        print(text, file=out)
        out.flush()
    except BrokenPipeError:
        # `remediator ctl executions | head`: the reader has what it wanted. Point stdout at /dev/null so
        # the interpreter's own flush at exit does not complain.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def parser(prog: str = "remediator ctl") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Override a running remediator over its API: pause, dry-run, trigger, approve, reset, "
        "reload, acknowledge, and read what was done and why (executions, incidents and their postmortem "
        "drafts, audit) and what is pending (the incident board, deferred decisions, timers).",
        epilog="example:\n  export REMEDIATOR_URL=http://remediator:8080 REMEDIATOR_TOKEN=...\n"
        '  remediator ctl pause --reason "risky migration" --for 1h',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure(p)
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    return run(parser().parse_args(argv), out=out, err=err, environ=environ)
