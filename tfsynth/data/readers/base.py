"""What every reader shares: the error type for bad input and the default way to handle it."""
from __future__ import annotations

from typing import Callable


class InputError(ValueError):
    """Bad source data for one image (missing or malformed annotation file, unknown class, bad box...).

    `path` names the file at fault so that a user can find it.
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# Readers call on_error(InputError) for each bad item; when it returns, the item is skipped.
ErrorHandler = Callable[[InputError], None]


def raise_error(error: InputError) -> None:
    """The default ErrorHandler: stop at the first bad item."""
    raise error
