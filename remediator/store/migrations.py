"""Versioned journal schemas: what each back-end's steps are, and the rule for applying them.

Each back-end (SQLite, PostgreSQL) lists its own numbered steps; opening a journal reads the
version it is at (the `schema_version` table; a SQLite file from before the table existed is
version 1), applies the missing steps in one transaction, and records each. A journal written by a
newer remediator is refused with a one-line error instead of being misread: a downgrade must be a
decision (restore the backup taken before the upgrade), not an accident.

Steps are additive (new tables, columns, indexes), so during a rolling upgrade the replicas still
on the previous release keep working against the migrated schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from remediator.errors import ConfigError


class JournalSchemaTooNew(ConfigError):
    """The journal was migrated by a newer remediator: refuse to start rather than misread it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    version: int
    description: str
    statements: tuple[str, ...]


def pending_steps(*, current: int, steps: Sequence[Step], where: str) -> list[Step]:
    """The steps to apply to a journal at version `current`, in order. Raises JournalSchemaTooNew."""
    latest = latest_version(steps)
    if current > latest:
        raise JournalSchemaTooNew(
            f"journal {where} is at schema version {current}, newer than this remediator knows "
            f"({latest}): run the newer release, or restore the backup taken before the upgrade"
        )
    return [s for s in steps if s.version > current]


def latest_version(steps: Sequence[Step]) -> int:
    versions = [s.version for s in steps]
    if versions != list(range(1, len(versions) + 1)):
        raise AssertionError(f"migration steps must be numbered 1..n in order, got {versions}")
    return versions[-1]
