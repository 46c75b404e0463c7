"""A throwaway PostgreSQL: Debian's `postgresql` binaries, a cluster on a Unix socket in a temp dir.

For the test suite (`tests/pgserver.py` adds skipping when the binaries are absent) and the
benchmarks (`bench/replicas.py`, with durability on).

`initdb` and `pg_ctl` run in a fresh directory under the system temp dir; the server listens on a
Unix socket only (`listen_addresses = ''`), so nothing is reachable from the network and no port can
be lost to a race. PostgreSQL refuses to run as root: when the tests run as root (CI containers do),
the cluster's files belong to the `postgres` user (or `nobody`) and the binaries run as that user.

Authentication is scram-sha-256 with a random password for the superuser `remediator`, so every
test goes through the same password path a real deployment does. A missing binary skips locally and
fails in CI (`CI=true`), where `scripts/test` installs the package (see tests/pgserver.py).

Tests use one cluster per pytest process (per xdist worker) and a fresh database per test:

    url = cluster.create_database()      # postgresql://remediator@/t_3?host=/tmp/.../sock
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "remediator"
PASSWORD_ENV = "REMEDIATOR_TEST_PG_PASSWORD"

DURABLE_SETTINGS: Mapping[str, str] = {"max_connections": "300", "shared_buffers": "64MB"}
"""Durability as shipped (fsync on, synchronous commits): what a benchmark measures."""

TEST_SETTINGS: Mapping[str, str] = {
    # Throwaway data: durability costs time and proves nothing here (the benchmark turns it back on).
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "32MB",
}


def find_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps them out of PATH)."""
    debian = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p).parent.name.isdigit()]
    candidates = sorted(debian, key=lambda p: int(p.parent.name), reverse=True)
    if env := os.environ.get("REMEDIATOR_PG_BINDIR"):
        candidates.insert(0, Path(env))
    if found := shutil.which("initdb"):
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists() and (c / "postgres").exists():
            return c
    raise FileNotFoundError(
        "PostgreSQL binaries (initdb, pg_ctl, postgres) not found (Debian package postgresql)"
    )


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user the server runs as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass(kw_only=True)
class PgCluster:
    """A running throwaway cluster. `url(db)` names a database on it; the password is `password`."""

    bindir: Path
    root: Path
    password: str
    user: pwd.struct_passwd | None
    settings: Mapping[str, str]
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """A libpq-style URL on the Unix socket, without the password (it comes from a secret reference)."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def _cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary, as the unprivileged owner of the cluster when we are root."""
        return subprocess.run(
            list(args),
            check=check,
            capture_output=True,
            text=True,
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            timeout=120,
            user=self.user.pw_uid if self.user is not None else None,
            group=self.user.pw_gid if self.user is not None else None,
            extra_groups=[] if self.user is not None else None,
        )

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        try:
            self._cmd(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"initdb failed:\n{e.stdout}\n{e.stderr}") from e
        finally:
            pwfile.unlink(missing_ok=True)
        conf = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "port": "5432",
            **{k: v for k, v in self.settings.items()},
        }
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("\n# remediator tests\n")
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        try:
            self._cmd(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                "60",
                "start",
            )
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"pg_ctl start failed:\n{e.stdout}\n{e.stderr}\n{self.log_tail()}") from e

    def stop(self) -> None:
        self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def next_database_name(self) -> str:
        return f"t_{os.getpid()}_{next(self._names)}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its URL."""
        name = name or self.next_database_name()
        try:
            subprocess.run(
                [str(self.bindir / "createdb"), "-h", str(self.socket_dir), "-U", SUPERUSER, name],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PGPASSWORD": self.password},
                timeout=60,
            )
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"createdb {name} failed: {e.stderr}") from e
        return self.url(name)


@contextlib.contextmanager
def running_cluster(settings: Mapping[str, str] = TEST_SETTINGS) -> Iterator[PgCluster]:
    """Start a cluster in a fresh temporary directory; stop it and remove everything at exit."""
    bindir = find_bindir()
    user = _run_as()
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as another user.
    root = Path(tempfile.mkdtemp(prefix="remediator-pg-"))
    try:
        (root / "sock").mkdir()
        os.chmod(root, 0o755)
        cluster = PgCluster(
            bindir=bindir, root=root, password=secrets.token_urlsafe(18), user=user, settings=settings
        )
        if user is not None:
            for p in (root, root / "sock"):
                cluster._chown(p)
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
