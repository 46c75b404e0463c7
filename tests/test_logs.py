"""The log never carries a secret, not even in a traceback's local variables."""

from __future__ import annotations

import functools
import io
import json
from typing import Any

import pytest

from remediator.logs import configure_logging, get_logger


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_no_local_variables(fmt: str) -> None:
    out = io.StringIO()
    secret = "s3cr3t" + "-admin-token"  # built, so no source line quoted in a traceback shows it
    configure_logging(fmt=fmt, stream=out)
    try:

        def handler(api_tokens: dict[str, str]) -> None:
            raise RuntimeError("boom")

        try:
            handler({secret: "admin"})
        except RuntimeError:
            get_logger("remediator.test").exception("request failed")
        text = out.getvalue()
        assert "request failed" in text and "RuntimeError" in text and "boom" in text
        assert secret not in text
    finally:
        configure_logging()


@pytest.mark.parametrize(
    "event",
    [
        {"event": "decided", "rule": "r", "alert_id": 3, "dry_run": True, "error": None, "took_s": 0.25},
        {"event": "é ü \u2028", "n": 2**70, "x": float("nan"), "del": "a\x7fb"},
        {"event": "ctl", "all": "".join(map(chr, range(128))), "big": -(2**63), "f": 1e300},
        {"event": "nested", "exception": [{"frames": [{"line": 3}]}], "obj": object()},
        {1: "non-str key"},
        {"event": "naïve café", "k": "ü", "big": 2**70, "neg": -(2**70), "ok": True, "none": None},
        {"event": "del \x7f", "key \x7f": 1},
    ],
)
def test_json_lines_read_back_as_json_dumps_writes_them(event: dict[Any, Any]) -> None:
    from remediator.logs import dumps

    line = dumps(event, default=repr)
    assert "\n" not in line
    assert json.loads(line) == json.loads(json.dumps(event, default=repr))
    assert line.isascii()  # as json.dumps: every secret spelling `redact` knows stays findable


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer abc.def",
        "BEARER   xyz",
        "basic dXNlcjpwYXNz and more",
        "url?TOKEN=abc&x=1",
        "url?to\u212aen=abc",  # KELVIN SIGN matches k case-insensitively
        "tokens= not a token=",
        "nothing here at all",
        "Bearer",
        "embearer x",
    ],
)
def test_scrub_masks_what_the_credential_pattern_masks(line: str) -> None:
    from remediator.logs import _CREDENTIAL, scrub
    from remediator.secrets import REDACTED

    expected = _CREDENTIAL.sub(lambda m: m.group("scheme") + REDACTED, line)
    assert scrub(None, "info", line) == expected


def _lines(text: str) -> list[dict[str, Any]]:
    out = [json.loads(line) for line in text.splitlines()]
    for line in out:
        line.pop("timestamp")
    return out


def _keep(seen: list[Any], record: Any) -> bool:
    seen.append(record)
    return True


def test_a_line_written_straight_to_the_handler_is_the_line_logging_writes() -> None:
    """The daemon's own lines skip `logging`'s records when nothing else could see them (one
    handler, no filter); with a filter on the way they take `logging`'s path: the same lines."""
    import logging

    import structlog

    direct, through = io.StringIO(), io.StringIO()
    log = get_logger("remediator.test")
    factory = logging.getLogRecordFactory()
    built: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        built.append(record.name)
        return record

    logging.setLogRecordFactory(counting)
    try:
        for stream, filtered in ((direct, False), (through, True)):
            configure_logging(stream=stream)
            passed: list[logging.LogRecord] = []
            if filtered:
                logging.getLogger("remediator.test").addFilter(functools.partial(_keep, passed))
            with structlog.contextvars.bound_contextvars(execution_id=7, rule="r"):
                log.info("decided", alert="ab12", reason="Bearer s3cret and é", n=3, none=None)
                log.bind(target="ns/Deployment/x").warning("bound", dry_run=True)
                log.debug("below the level")
                log.info("%s positional", "with")
            if filtered:
                logging.getLogger("remediator.test").filters.clear()
                assert len(passed) == 3  # the records were built: this is logging's path
            else:
                assert len(built) == 1  # only the line with positional arguments took logging's path
        assert _lines(direct.getvalue()) == _lines(through.getvalue())
        assert len(_lines(direct.getvalue())) == 3
        assert "s3cret" not in direct.getvalue()
    finally:
        logging.setLogRecordFactory(factory)
        configure_logging()


def test_a_capturing_handler_beside_the_daemons_still_gets_every_record() -> None:
    import logging

    out = io.StringIO()
    configure_logging(stream=out)
    captured: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = captured.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(capture)
    try:
        get_logger("remediator.test").info("seen twice", n=1)
        assert len(captured) == 1
        assert json.loads(out.getvalue())["event"] == "seen twice"
    finally:
        configure_logging()


async def test_lines_written_on_the_event_loop_reach_the_file_by_its_next_turn(tmp_path: Any) -> None:
    """On the loop a batch's lines are flushed together, once the loop turns: not lost, not late."""
    import asyncio

    path = tmp_path / "daemon.log"
    with path.open("a") as stream:
        configure_logging(stream=stream)
        try:
            log = get_logger("remediator.test")
            for n in range(3):
                log.info("batch line", n=n)
            await asyncio.sleep(0)
            assert [line["n"] for line in _lines(path.read_text())] == [0, 1, 2]
        finally:
            configure_logging()
