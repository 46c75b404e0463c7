"""Namespaces: denied ones never, and only the allowed ones when a list is given."""

from __future__ import annotations

from dataclasses import replace

from remediator.guards.namespaces import NamespaceGuard
from remediator.model import Outcome
from tests.guards import CHECKOUT, proposal


async def test_namespace_guard() -> None:
    deny = NamespaceGuard(allowed=(), denied=("kube-system",))
    assert await deny.check(proposal()) is None
    v = await deny.check(proposal(replace(CHECKOUT, namespace="kube-system")))
    assert v is not None and v.outcome is Outcome.OUTSIDE_ALLOWED_NAMESPACES and "denied" in v.reason
    allow = NamespaceGuard(allowed=("prod",), denied=())
    v = await allow.check(proposal())
    assert v is not None and v.reason == "namespace 'shop' is not allowed (prod)"
