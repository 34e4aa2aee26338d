"""Making a write survive a power cut: fsync a file's bytes, and the directory holding a rename.

Shared by every writer that publishes files atomically (the history lake, the model registry,
the backtest report): write under a temporary name, fsync, rename, fsync the directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    """fsync a file or a directory by path. A directory's fsync makes a rename in it durable; on a
    platform that cannot fsync a directory the rename is still atomic, only not yet durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:
        if not os.path.isdir(path):
            raise
    finally:
        os.close(descriptor)


def write_synced(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` and fsync it before returning."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
