"""The main process's private run directory (one port), and the sweep of the ones dead runs left.

Each run of `remediator serve` on one port makes a directory `remediator-run-XXXXXXXX` (mode 0700,
tempfile.mkdtemp) in the temporary directory for its Unix socket (front.py), and holds an exclusive
flock on `run.lock` inside it for as long as it runs; it removes the directory at exit. A SIGKILLed
run cannot, but the kernel drops the flocks of a dead process. So `serve` sweeps at start-up: it
removes the directories of this pattern whose lock it can take, because their run is over. A lock
proves it without a pid (which the system may have given to another process since).

Never one it cannot prove dead, nor one that may not be ours: the name must match the pattern, the
directory must be a real directory (no symlink) owned by this uid with mode 0700, its `run.lock` a
regular file owned by this uid, and both must still be the same files once the lock is taken. The
lock file is made under another name, locked, then renamed into place, so a sweep never sees a
`run.lock` that is not locked yet. A directory without `run.lock` is left alone: made by a version
before the lock, or by a run killed in the instant between making it and locking it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from remediator.logs import get_logger

log = get_logger("remediator")

PREFIX = "remediator-run-"
NAME = re.compile(re.escape(PREFIX) + r"[a-z0-9_]{8}")
"""tempfile.mkdtemp's names: the prefix and eight characters of [a-z0-9_]."""
LOCK_NAME = "run.lock"
_NEW_LOCK_NAME = "run.lock.new"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def run_directory(parent: Path | None = None) -> Iterator[Path]:
    """A fresh private directory, locked while the block runs; removed (then unlocked) at its end."""
    directory = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    lock = -1
    try:
        dir_fd = os.open(directory, _DIR_FLAGS)
        try:
            lock = os.open(
                _NEW_LOCK_NAME,
                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dir_fd,
            )
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else has it
            os.rename(_NEW_LOCK_NAME, LOCK_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        yield directory
    finally:
        # Removed while still locked: a sweep never takes the lock of a directory being removed.
        shutil.rmtree(directory, ignore_errors=True)
        if lock >= 0:
            os.close(lock)


def sweep_stale_run_directories(parent: Path | None = None) -> list[Path]:
    """Remove the run directories in `parent` (the temporary directory) whose run is over; which.
    Never raises for a directory it cannot read or remove: it is left, and logged."""
    parent = Path(parent if parent is not None else tempfile.gettempdir())
    try:
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        log.warning("cannot look for stale run directories", directory=str(parent), error=str(e))
        return []
    removed: list[Path] = []
    try:
        with os.scandir(parent_fd) as entries:
            names = sorted(e.name for e in entries if NAME.fullmatch(e.name))
        for name in names:
            try:
                if _remove_if_dead(parent_fd, name):
                    removed.append(parent / name)
                    log.info("removed the run directory of a run that is over", directory=str(parent / name))
            except OSError as e:
                log.warning("cannot remove a stale run directory", directory=str(parent / name), error=str(e))
    finally:
        os.close(parent_fd)
    return removed


def _remove_if_dead(parent_fd: int, name: str) -> bool:
    try:
        dir_fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)  # ELOOP: a symlink; ENOTDIR: a file
    except OSError:
        return False
    try:
        directory = os.fstat(dir_fd)
        if directory.st_uid != os.getuid() or stat.S_IMODE(directory.st_mode) != 0o700:
            return False
        try:
            lock = os.open(
                LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
            )
        except OSError:
            return False  # no lock file (an older version's, or being made), or a symlink
        try:
            lock_file = os.fstat(lock)
            if not stat.S_ISREG(lock_file.st_mode) or lock_file.st_uid != os.getuid():
                return False
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # its run is alive
            # Still the same directory and lock file under these names (not swept meanwhile)?
            try:
                if not (
                    _same(os.stat(name, dir_fd=parent_fd, follow_symlinks=False), directory)
                    and _same(os.stat(LOCK_NAME, dir_fd=dir_fd, follow_symlinks=False), lock_file)
                ):
                    return False
            except FileNotFoundError:
                return False  # another sweep removed it first
            shutil.rmtree(name, dir_fd=parent_fd)  # symlink-safe: it never follows one inside
            return True
        finally:
            os.close(lock)
    finally:
        os.close(dir_fd)


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
