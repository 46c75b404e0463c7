"""The intake process ends with the main process, however that one ends (SIGKILL included).

Two ways, either is enough: Linux's PR_SET_PDEATHSIG sends this process SIGTERM when its parent
dies (a graceful stop: in-flight writes are committed and answered), and the channel's end-of-file
(channel.py) tells it as well, on any system. A parent that died before the first could be set is
seen by the parent id having changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> bool:
    """Ask for SIGTERM when the parent dies. False if the parent is already gone."""
    name = ctypes.util.find_library("c")
    if name is not None:
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the channel's end-of-file still tells
            pass
    return os.getppid() == parent_pid
