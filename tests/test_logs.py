"""The log never carries a secret, not even in a traceback's local variables."""

from __future__ import annotations

import io

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
