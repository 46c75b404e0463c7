"""No configured secret is ever logged: the Secret type, and the log renderer's last step."""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Iterator

import pytest

from remediator.logs import configure_logging, get_logger
from remediator.secrets import Secret

TOKEN = "wh-token-0123456789abcdef"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The daemon's real logging set-up, writing to a buffer; the root logger restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_secret_never_prints_its_value() -> None:
    s = Secret(TOKEN)
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", f"{s:>40}", repr([s]), repr({"k": s})):
        assert TOKEN not in shown and "redacted" in shown
    assert s.reveal() == TOKEN
    assert s.matches(TOKEN) and not s.matches("wrong") and not s.matches(None)
    assert s.matches(TOKEN.encode()) and not s.matches("\udcff")  # undecodable header bytes: no error
    assert s == Secret(TOKEN) and s != TOKEN
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(ValueError):
        Secret("")


def _handler_that_fails(authorization: str, token: Secret) -> None:
    plain = token.reveal()  # a local holding the value, as a request handler's frame would
    raise RuntimeError(f"boom while checking {authorization!r}") from ValueError(plain[:3])


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_an_exception_is_logged_without_frame_locals_and_without_secrets(fmt: str) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(level="info", fmt=fmt, stream=out)
    try:
        secret = Secret(TOKEN)
        try:
            _handler_that_fails(f"Bearer {TOKEN}", secret)
        except RuntimeError:
            get_logger("remediator.test").exception("request failed")
        logging.getLogger("aiohttp.server").error("Error handling request: header %r", f"Bearer {TOKEN}\x01")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    text = out.getvalue()
    assert "request failed" in text and "_handler_that_fails" in text  # the traceback is there...
    assert TOKEN not in text  # ...but not the secret, whatever path it took
    assert '"locals"' not in text and "plain =" not in text


def test_unknown_credentials_in_free_text_are_masked_too(log_output: io.StringIO) -> None:
    log = get_logger("remediator.test")
    log.warning("bad header", raw="Authorization: Bearer guessed-password-1 x", url="http://h/p?token=abc123")
    text = log_output.getvalue()
    assert "guessed-password-1" not in text and "abc123" not in text
    assert "Bearer <redacted>" in text and "token=<redacted>" in text


def test_every_spelling_of_a_secret_is_masked(log_output: io.StringIO) -> None:
    odd = 'quote"back\\slash-é-token'
    Secret(odd)
    get_logger("remediator.test").info("echo", raw=odd, as_repr=repr(odd), as_bytes=repr(odd.encode()))
    text = log_output.getvalue()
    for spelling in (odd, repr(odd)[1:-1], 'quote\\"back\\\\slash'):
        assert spelling not in text
