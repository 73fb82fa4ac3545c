"""Result files of the sweep and the accuracy benchmark: atomic writes, readable failures, one lock.

Only the process that drives a run writes here (Dask workers return their results to it), so a
point is either on disk whole or not at all: a kill at any moment leaves the previous file or the
new one, never half of one, and the temporary files of a killed write are swept away next time.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from sim.artifact import TMP_SUFFIX, atomic_write

def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj, **dumps) -> None:
    write_text(path, json.dumps(obj, **{"indent": 1, **dumps}) + "\n")


def read_json(path: Path):
    """The JSON in `path`; a damaged file is named in the error with what to do about it."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: damaged ({e}); delete it and run again to redo what it held") from None


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files a killed write left behind (call with the folder locked)."""
    for tmp in folder.rglob(f".*{TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)


class Busy(ValueError):
    """Another process holds the folder."""


@contextlib.contextmanager
def locked(folder: Path, *, wait: bool):
    """Hold an exclusive lock on `folder` (the folder itself: no lock file to leave behind).
    `wait=False` refuses at once when another process holds it; the kernel drops the lock when the
    holder dies, so a killed run never blocks the next one."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(f"{folder}: another run is writing to this folder; wait for it or choose another") from None
        yield folder
    finally:
        os.close(fd)  # releases the lock


def merge_json(path: Path, update, **dumps) -> dict:
    """Read `path` (or {}), apply `update(dict) -> dict` and write it back, all under the folder's
    lock, so that several processes can add to one results file without losing each other's entries."""
    with locked(path.parent, wait=True):
        merged = update(read_json(path) if path.exists() else {})
        write_json(path, merged, **dumps)
    return merged
