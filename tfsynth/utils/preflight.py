"""Cheap checks a command makes before its expensive work (rendering, reading every image, building a model): the
files it reads exist, the folders it writes can be written.

Errors are OSErrors naming the path and the flag (`PATH: reason (--flag)` once tfsynth.utils.cli prints them). Nothing
is created: a refused run leaves no empty output folder behind. Paths on other file systems (gs://, s3://) are left
to TensorFlow, which reads and writes them.
"""
from __future__ import annotations

import errno
import os
import tempfile
from typing import Optional, Union

PathLike = Union[str, os.PathLike]


def _remote(path: str) -> bool:
    return "://" in path


def _local_file(path: PathLike, flag: str, expected: str) -> Optional[str]:
    """`path` as a string, None for a remote path (not checked here); IsADirectoryError for a folder."""
    path = os.fspath(path)
    if _remote(path):
        return None
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"is a folder; {flag} expects {expected}", path)
    return path


def check_input_file(path: PathLike, flag: str) -> None:
    """FileNotFoundError unless `path` is an existing file (IsADirectoryError for a folder)."""
    local = _local_file(path, flag, "a file")
    if local is not None and not os.path.isfile(local):
        raise FileNotFoundError(errno.ENOENT, f"no such file ({flag})", local)


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _probe_write(folder: str) -> None:
    """Creates and removes a file in `folder`: os.access says yes to root on a read-only file system."""
    handle, probe = tempfile.mkstemp(prefix=".tfsynth-write-check-", dir=folder)
    os.close(handle)
    os.remove(probe)


def _check_creatable(path: str, folder: str, flag: str, what: str) -> None:
    """Raises unless `folder` (the folder `path` is, or is written in) exists writable or can be created."""
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise NotADirectoryError(errno.ENOTDIR, f"{what} ({flag}): {existing} is a file, not a folder", path)
    try:
        _probe_write(existing)
    except OSError as error:
        where = "not writable" if existing == os.path.abspath(path) else f"{what}: {existing} is not writable"
        raise PermissionError(error.errno or errno.EACCES, f"{where} ({flag}): {error.strerror}", path) from None


def check_output_dir(path: PathLike, flag: str) -> None:
    """Raises unless `path` is a writable folder, or can be created as one (a writable folder above it)."""
    path = os.fspath(path)
    if _remote(path):
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, f"is a file; {flag} expects a folder", path)
    _check_creatable(path, path, flag, "cannot be created")


def check_output_file(path: PathLike, flag: str) -> None:
    """Raises unless `path` can be written as a file: not a folder, and its folder writable or creatable."""
    local = _local_file(path, flag, "a file name")
    if local is not None:
        _check_creatable(local, os.path.dirname(os.path.abspath(local)), flag, "cannot be written")
