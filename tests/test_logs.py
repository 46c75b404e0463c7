"""The log never carries a secret, not even in a traceback's local variables."""

from __future__ import annotations

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
