"""What a ctl command returns: the API's answer as it came, and how to print it for a human."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from remediator.ctl.client import Client, CtlError


@dataclass(frozen=True, slots=True)
class Answer:
    """The API's answer as it came (printed by `--output json|yaml`) and its text for a human."""

    data: Any
    text: Callable[[], str]


def answer(data: Any, model: type[BaseModel], text: Callable[[Any], str]) -> Answer:
    """Parse `data` into `model` (a daemon that answers something else is an error, said plainly)."""
    try:
        parsed = model.model_validate(data)
    except ValueError as e:
        raise CtlError(f"the daemon's answer is not a {model.__name__}: {e}", code=1) from None
    return Answer(data, lambda: text(parsed))


Command = Callable[[Client, argparse.Namespace], Answer]
