"""Bearer tokens, compared in constant time. Tokens are `Secret`s: never logged, never in a repr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from remediator.secrets import Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiCredential:
    """One configured override-API token: the secret, the name the audit trail shows, its scope."""

    secret: Secret
    name: str
    scope: Literal["read", "admin"]


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_matches(provided: str | None, expected: Secret) -> bool:
    return expected.matches(provided)
