"""Writing a file so that no reader, and no interrupted run, ever sees it half-written."""
from __future__ import annotations

import os
from typing import Union


def write_atomically(path: Union[str, os.PathLike], data: Union[str, bytes]) -> None:
    """Writes data to path through a temporary file beside it, then renames it over path.

    Text is written as UTF-8 with '\\n' line ends. The parent folder is created when missing. A failed write removes
    its temporary and leaves any earlier file at path as it was. A plain open() (not mkstemp), so the file gets the
    usual permissions rather than 0600.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        if isinstance(data, bytes):
            with open(temporary, "wb") as stream:
                stream.write(data)
        else:
            with open(temporary, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
