"""A real PostgreSQL for tests (see `remediator.testing.postgres`): skipped locally when Debian's
`postgresql` binaries are absent, a failure in CI (`CI=true`), where `scripts/test` installs them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import pytest

from remediator.testing import postgres
from remediator.testing.postgres import PASSWORD_ENV, SUPERUSER, TEST_SETTINGS, PgCluster
from tests.realbin import in_ci

__all__ = ["PASSWORD_ENV", "SUPERUSER", "PgCluster", "running_cluster"]


@contextlib.contextmanager
def running_cluster(settings: Mapping[str, str] = TEST_SETTINGS) -> Iterator[PgCluster]:
    try:
        postgres.find_bindir()
    except FileNotFoundError as e:
        if in_ci():
            pytest.fail(f"{e}: CI must install it")
        pytest.skip(str(e))
    with postgres.running_cluster(settings) as cluster:
        yield cluster
