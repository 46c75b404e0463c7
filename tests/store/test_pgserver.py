"""The test PostgreSQL: a real server, reachable only on its Unix socket, and only with the password."""

from __future__ import annotations

import asyncpg
import pytest

from tests.pgserver import PgCluster


async def test_fresh_database_needs_the_password(pg_cluster: PgCluster, pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url, password=pg_cluster.password)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        assert await conn.fetchval("SHOW listen_addresses") == ""
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(pg_url, password="wrong")
