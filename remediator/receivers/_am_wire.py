"""Alertmanager webhook bodies decoded by msgspec: the fast path of `alertmanager.validate`.

The documented schema is the pydantic model (`alertmanager.AmPayload`); this decoder only
vouches for bodies it can prove that model accepts, with the same values, and returns None for
anything else, so the caller asks the model (and gets its verdict and its error message). It is
therefore stricter than the model, never looser:

- every field is typed and unknown fields are refused, so every byte is decoded (the model
  ignores unknown fields without checking their depth, their numbers or their UTF-8 the way its
  JSON parser does; a body with such fields goes to the model);
- times must be RFC 3339 in the form Alertmanager writes (`2026-01-01T00:00:00.123456789Z`,
  or an offset `+HH:MM`), read as the model reads them (fractions beyond microseconds cut off);
- numbers, booleans and nulls where the model would coerce them are left to the model.

tests/receivers/test_am_wire.py checks this against the model over the shared fixtures and
hostile bodies.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Literal

import msgspec

from remediator.receivers.times import storable

Status = Literal["firing", "resolved"]

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")


class WireAlert(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    status: Status
    labels: dict[str, str]
    startsAt: str
    annotations: dict[str, str] = {}
    endsAt: str | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class WireMessage(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A webhook body as Alertmanager (0.25 to 0.28) sends it, every field typed."""

    version: Literal["4"]
    groupKey: str
    status: Status
    alerts: list[WireAlert]
    receiver: str = ""
    truncatedAlerts: int = 0
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""


_DECODER = msgspec.json.Decoder(WireMessage)


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (from the wire, or `isoformat()` of one the model read) as the model reads
    it (Python's parser also cuts fractions beyond microseconds off); ValueError when it has no
    offset or cannot be stored."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return storable(value)


@functools.lru_cache(maxsize=4096)
def _fast_time(text: str) -> bool:
    """Whether the decoder vouches for `text`. Cached: the same strings come again and again (Go's
    zero time ends every firing alert; a group's alerts share their start; Alertmanager resends a
    group every group_interval), and a verdict depends on the string alone."""
    if _TIME.fullmatch(text) is None:
        return False
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def decode(body: bytes) -> WireMessage | None:
    """The body, when it is one the model accepts with the same values; None: ask the model."""
    try:
        message = _DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    # Each distinct time once: a group's firing alerts all end at Go's zero time, and often start
    # together (a third of a 100-alert body's decoding went to checking the same strings again).
    checked: set[str] = set()
    for a in message.alerts:
        for text in (a.startsAt, a.endsAt):
            if text is None or text in checked:
                continue
            if not _fast_time(text):
                return None
            checked.add(text)
    return message
