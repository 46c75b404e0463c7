"""The `remediator` command: one entry point, subcommands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from remediator import __version__, completion, ctl, demo
from remediator.api.server import make_runner
from remediator.app import Application, open_app
from remediator.clock import SYSTEM_CLOCK, TEST_CLOCK_ENV, clock_from_env
from remediator.config import (
    DEFAULT_TOKEN_ENV,
    Settings,
    config_path,
    is_loopback,
    ladder_problems,
    load_settings,
    parse_listen,
)
from remediator.errors import ConfigError, RemediatorError, RuleLoadError
from remediator.intake.front import Front, open_front
from remediator.intake.rundir import sweep_stale_run_directories
from remediator.intake.supervisor import IntakeProcess, PayloadSink
from remediator.logs import configure_logging, get_logger
from remediator.override import ReloadFailed
from remediator.rules import RuleSet, load_rules
from remediator.ruletest import run_rule_tests
from remediator.secrets import Secret

log = get_logger("remediator")

EXAMPLES = {
    "serve": "example:\n  REMEDIATOR_WEBHOOK_TOKEN=s3cret remediator serve --config config/remediator.yaml "
    "--listen 0.0.0.0:8080",
    "check": "example:\n  remediator check rules/          # exit status 1 and file:line for every error",
}


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(config_path(getattr(args, "config", None)))
    http = settings.http
    if getattr(args, "listen", None):
        http = http.model_copy(update={"listen": args.listen})
    if getattr(args, "insecure", False):
        http = http.model_copy(update={"insecure": True})
    rules = tuple(Path(p) for p in args.rules) if getattr(args, "rules", None) else settings.rules
    return settings.model_copy(update={"http": http, "rules": rules})


def bind_address(
    settings: Settings, *, webhook_token: Secret | None, listen: str | None = None
) -> tuple[str, int]:
    """Where to listen (`listen`, else http.listen): exactly what was asked, or a ConfigError. Never
    something else silently.

    Without a webhook token, only a loopback address (checked with `ipaddress`, names resolved), unless
    `insecure` says otherwise: a user who asked for all interfaces must not silently get 127.0.0.1."""
    listen = listen or settings.http.listen
    host, port = parse_listen(listen)
    if webhook_token is None and not is_loopback(host):
        if not settings.http.insecure:
            ref = settings.auth.webhook_token
            where = f"set {DEFAULT_TOKEN_ENV}"
            if ref is not None and ref.env and ref.env != DEFAULT_TOKEN_ENV:
                where = f"set {ref.env} (auth.webhook_token; {DEFAULT_TOKEN_ENV} by default)"
            elif ref is not None and ref.file is not None:
                where = f"put the token in {ref.file} (auth.webhook_token; {DEFAULT_TOKEN_ENV} by default)"
            elif ref is None:
                where = f"configure auth.webhook_token ({DEFAULT_TOKEN_ENV} by default)"
            raise ConfigError(
                f"refusing to listen on {listen} without a webhook token: {where}, "
                "listen on 127.0.0.1, or pass --insecure to accept unauthenticated webhooks from the network"
            )
        log.warning("insecure: no webhook token and listening beyond loopback", listen=listen)
    elif webhook_token is None:
        log.warning("no webhook token configured: webhooks are unauthenticated (loopback only)")
    return host, port


class StartupError(Exception):
    """The daemon could not start: one line for the operator, exit status 2, no traceback."""


def _one_line(e: BaseException) -> str:
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    text = str(e) or type(e).__name__
    if isinstance(e, RuleLoadError) and len(e.errors) > 1:
        text = f"{e.errors[0]} (and {len(e.errors) - 1} more; run `remediator check`)"
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


async def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT. Anything that stops it before it listens is a StartupError."""
    try:
        token = settings.auth.webhook_token.resolve() if settings.auth.webhook_token else None
        host, port = bind_address(settings, webhook_token=token)
        if settings.intake.processes and settings.intake.listen is not None:
            bind_address(settings, webhook_token=token, listen=settings.intake.listen)
    except ConfigError as e:
        raise StartupError(_one_line(e)) from None
    # Whatever this run's settings: a run on one port that was SIGKILLed left its private directory.
    sweep_stale_run_directories()
    listening = False
    cannot_listen: StartupError | None = None
    try:
        clock = clock_from_env(os.environ)
        if clock is not None:
            log.warning("simulated time: the clock is read from a file (tests only)", env=TEST_CLOCK_ENV)
        async with (
            open_app(settings, clock=clock or SYSTEM_CLOCK) as app,
            contextlib.AsyncExitStack() as sockets,
        ):
            intake: IntakeProcess | None = None
            # One port: the intake process is the front on http.listen, this process behind it.
            one_port = bool(settings.intake.processes) and settings.intake.listen is None
            front: Front | None = None
            runner: web.AppRunner | None = None
            try:
                if one_port:
                    front = sockets.enter_context(open_front(host, port))
                state = app.api_state()
                if settings.intake.processes:
                    # Its back-off and polls run in wall time, whatever clock the daemon decides by.
                    sink = app.journal if isinstance(app.journal, PayloadSink) else None
                    intake = IntakeProcess(settings=settings, sink=sink, clock=SYSTEM_CLOCK, front=front)
                    state = dataclasses.replace(state, webhooks=False, intake=intake.status)
                runner = make_runner(state, behind_front=one_port)
                await runner.setup()
                if front is not None:
                    await web.UnixSite(runner, str(front.upstream)).start()
                else:
                    await web.TCPSite(runner, host, port).start()
            except OSError as e:
                # Not raised from here: open_app's TaskGroup would wrap it in an ExceptionGroup.
                reason = e.strerror or str(e)
                if "address already in use" in str(e).lower():
                    reason = "address already in use (another process listens there)"
                cannot_listen = StartupError(f"cannot listen on {host}:{port}: {reason}")
            else:
                listening = True
                # The bound port: `--listen 127.0.0.1:0` picks a free one, and this line names it.
                bound = front.port if front else runner.addresses[0][1] if runner.addresses else port
                if front is None:
                    log.info("listening", address=f"{host}:{bound}")
                else:
                    log.info(
                        "listening",
                        address=f"{host}:{bound}",
                        front="intake process",
                        behind=str(front.upstream),
                    )
                if intake is None:
                    await _run_until_stopped(app)
                else:
                    # Started after this process is up; stopped first, its accepts committed and answered.
                    async with intake.running():
                        await _run_until_stopped(app)
            finally:
                if runner is not None:
                    await runner.cleanup()
    except Exception as e:
        if listening:
            raise
        if not isinstance(e, RemediatorError | OSError):
            # Not the operator's doing (a bug): the log keeps the traceback (no locals), stderr one line.
            log.exception("start-up failed")
        # A ConfigError says what and where itself; anything else gets a subject.
        raise StartupError(
            _one_line(e) if isinstance(e, ConfigError) else f"cannot start: {_one_line(e)}"
        ) from None
    if cannot_listen is not None:
        raise cannot_listen


async def _run_until_stopped(app: Application) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[None]] = set()

    def sighup() -> None:
        task = loop.create_task(reload_on_sighup(app), name="sighup-reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, sighup)
    await stop.wait()
    log.info("stopping")
    await asyncio.gather(*reloads, return_exceptions=True)


async def reload_on_sighup(app: Application) -> None:
    """SIGHUP reloads the rule files as `POST /api/v1/reload` does; a bad file is logged and counted
    there, and the rules in force stay active."""
    with contextlib.suppress(ReloadFailed):
        await app.operator.reload(actor="SIGHUP", reason="SIGHUP received")


def cmd_serve(args: argparse.Namespace) -> int:
    """Exit 0 on a clean stop; 2, with one line on stderr and no traceback, when it cannot start."""
    try:
        settings = _settings(args)
    except ConfigError as e:
        print(f"remediator: {_one_line(e)}", file=sys.stderr)
        return 2
    configure_logging(level=settings.log.level, fmt=settings.log.format)
    try:
        asyncio.run(serve(settings))
    except StartupError as e:
        log.error("cannot start", error=str(e))
        print(f"remediator: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    paths = [Path(p) for p in args.paths] if args.paths else list(settings.rules)
    try:
        rules = load_rules(paths)
    except RuleLoadError as e:
        for err in e.errors:
            print(err, file=sys.stderr)
        print(f"{len(e.errors)} error(s)", file=sys.stderr)
        return 1
    warnings = [str(w) for w in rules.warnings] + _undefined_names(
        settings, rules, config=config_path(getattr(args, "config", None))
    )
    for warning in warnings:
        print(warning, file=sys.stderr)
    files = sorted({r.source_path for r in rules})
    noted = f", {len(warnings)} warning(s)" if warnings else ""
    print(f"ok: {len(rules)} rules in {len(files)} file(s){noted}")
    return 0


def _undefined_names(settings: Settings, rules: RuleSet, *, config: Path | None) -> list[str]:
    """Warnings for PagerDuty services and channels a rule names that this config does not define:
    that page or message would be recorded as skipped, at the worst moment. Warnings, not errors:
    the shipped rules name channels (`incidents`, `ops`) that an install defines in its own config."""
    channels = set(settings.notify.channels)
    problems: list[str] = []
    for rule in rules:
        where = f"{rule.source_path}:{rule.source_line}: warning: rule {rule.name!r}"
        if rule.escalation:
            problems += ladder_problems(settings, rule.escalation, where=f"{where}: escalation")
        uses = [("updates.channel", rule.updates_channel), ("notify.channel", rule.notify_channel)]
        uses += [
            ("on_failure notify", f.params.get("channel")) for f in rule.on_failure if f.kind == "notify"
        ]
        for key, name in uses:
            if isinstance(name, str) and name not in channels:
                problems.append(
                    f"{where}: {key} {name!r} is not in notify.channels of {config or 'the built-in config'}"
                )
    return problems


def cmd_test(args: argparse.Namespace) -> int:
    # No configure_logging: the runner captures the engine's log; stdout carries only the report.
    paths = [Path(p) for p in args.paths] if args.paths else [Path("rules-tests")]
    return run_rule_tests(paths, out=sys.stdout, verbose=args.verbose)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        rules = tuple(Path(p) for p in args.rules) if args.rules else demo.default_rules()
    except demo.DemoError as e:
        print(f"remediator demo: {e}", file=sys.stderr)
        return 2
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    listen = args.listen or ("127.0.0.1:0" if args.once else "127.0.0.1:8080")
    options = demo.DemoOptions(once=args.once, listen=listen, rules=rules, color=color)
    return demo.run(options, sys.stdout)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="remediator",
        description="Alert-driven auto-remediation: Alertmanager and PagerDuty alerts -> YAML rules -> "
        "guarded Kubernetes actions.",
        epilog="example:\n  remediator serve\n  remediator check rules/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"remediator {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "serve",
        help="run the daemon",
        description="Run the daemon: webhook receivers, engine, metrics.",
        epilog=EXAMPLES["serve"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--config", help="config file (default: $REMEDIATOR_CONFIG, else config/remediator.yaml)")
    s.add_argument(
        "--rules", action="append", help="rule file or directory (repeatable; overrides the config)"
    )
    s.add_argument("--listen", help="HOST:PORT to listen on (overrides http.listen)")
    s.add_argument(
        "--insecure", action="store_true", help="allow listening beyond loopback without a webhook token"
    )
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser(
        "check",
        help="validate the config and rule files",
        description="Validate the config and rule files; print every error as file:line: message.",
        epilog=EXAMPLES["check"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("paths", nargs="*", help="rule files or directories (default: the config's `rules`)")
    c.add_argument("--config", help="config file to validate too")
    c.set_defaults(func=cmd_check)

    t = sub.add_parser(
        "test",
        help="run rule unit tests (like promtool test rules)",
        description="Run rule tests: given a cluster and alerts at simulated times, expect decisions and the "
        "cluster after. Runs the real engine against an in-process fake cluster.",
        epilog="example:\n  remediator test rules-tests/   # exit 0: passed, 1: a test failed, 2: bad file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument(
        "paths",
        nargs="*",
        metavar="FILE_OR_DIR",
        help="rule test files or directories (default: rules-tests/)",
    )
    t.add_argument(
        "-v", "--verbose", action="store_true", help="also show passing tests' decisions and the engine log"
    )
    t.set_defaults(func=cmd_test)

    d = sub.add_parser(
        "demo",
        help="see it work: sample incidents against an in-process fake cluster (no Kubernetes needed)",
        description="Start the daemon against an in-process fake cluster (a small shop), fire sample "
        "incidents from the runbooks (5xx after a deploy, 429s, auth failures, p99, OOM, a step that needs "
        "approval) and print what was decided, what changed in the cluster, what was verified and who was "
        "paged; then keep serving the API until Ctrl-C.",
        epilog="example:\n  remediator demo            # then open the printed URL\n"
        "  remediator demo --once     # exit 0 only if every expected step happened (CI)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--once", action="store_true", help="run the incidents, print the summary and exit")
    d.add_argument(
        "--listen",
        default=None,
        help="loopback HOST:PORT to serve on (default 127.0.0.1:8080; with --once any free port)",
    )
    d.add_argument("--rules", action="append", help="rule file or directory (default: rules/)")
    d.set_defaults(func=cmd_demo)

    k = sub.add_parser(
        "ctl",
        help="override a running daemon over its API (pause, dry-run, trigger, approve, reset, reload)",
        description="Override a running remediator over its API: pause, dry-run, trigger, approve, reset, "
        "reload, and read what was done and why. URL and token: --url/--token or REMEDIATOR_URL/"
        "REMEDIATOR_TOKEN.",
        epilog="example:\n  export REMEDIATOR_URL=http://remediator:8080 REMEDIATOR_TOKEN=...\n"
        '  remediator ctl pause --reason "risky migration" --for 1h\n  remediator ctl executions --since 2h',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ctl.configure(k)
    k.set_defaults(func=ctl.run)

    o = sub.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description="Print a completion script for every command, option and choice of remediator.",
        epilog="example:\n  source <(remediator completion bash)   # in ~/.bashrc\n"
        "  source <(remediator completion zsh)    # in ~/.zshrc, after compinit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    o.add_argument("shell", choices=completion.SHELLS)
    o.set_defaults(func=cmd_completion)
    return p


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(completion.script(parser(), args.shell))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
