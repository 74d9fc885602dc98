"""How every tfsynth command ends on an error: one line `COMMAND: error: MESSAGE` on stderr, not a traceback.

Expected errors (the input, a file or the machine is at fault, and the message says which and what was expected)
print that one line and exit with status EXIT_ERROR (1, as absl's usage errors do). They are:

  * an instance of an exception class defined in the tfsynth package (InputError, ConfigError, CatalogError, MeshError,
    StudyError, BadImageError, FetchError, ConversionError, UnsupportedConfigError, CheckpointMismatchError,
    MappingError, TfjsFormatError, UnityPlayerError, NonFiniteLossError, RenderWorkerError, ...): the project
    defines them for the user's mistakes only, so a new one is covered without being listed here;
  * any exception raised by a `raise` statement of tfsynth's own code (the innermost frame of its traceback is a
    tfsynth file, on a `raise` line): the project's checks of files, fields and flags raise plain ValueError,
    FileNotFoundError or RuntimeError with a message written for the user;
  * an OSError, wherever it was raised: a missing or unwritable file, a full disk, a refused connection, an image
    file Pillow cannot identify are the machine's or the input's state, not bugs; printed as `PATH: reason` when it
    names a file. TensorFlow's NotFoundError, PermissionDeniedError (its file system's) and DataLossError (a
    damaged record file) likewise.

With --verbose (defined here, once, for the absl commands; add_verbose_argument adds it to the argparse ones) the
traceback comes first, then the same line; when absl logs to a file, the traceback goes there as well.

Anything else is unexpected: a bug, whose traceback is what a report needs. It is always printed, followed by
`COMMAND: internal error: TYPE: MESSAGE (a bug; ...)`, and the status is EXIT_BUG (70, EX_SOFTWARE of sysexits.h),
so that a script can tell a bug from bad input. Ctrl-C prints `COMMAND: interrupted` and exits with 130.
absl's usage errors (app.UsageError, flag parsing) and SystemExit pass through unchanged.
"""
from __future__ import annotations

import linecache
import os
import sys
import traceback
from typing import Any, Callable, Optional, TextIO

from absl import flags

EXIT_ERROR = 1
EXIT_BUG = 70
EXIT_INTERRUPTED = 130

VERBOSE_HELP = "On an error, also print its traceback (errors are one line without it)."
flags.DEFINE_boolean("verbose", False, VERBOSE_HELP)

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def add_verbose_argument(parser: Any) -> None:
    """Adds --verbose to an argparse parser, with the meaning the absl commands give it."""
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)


def _in_package(filename: str) -> bool:
    return bool(filename) and os.path.abspath(filename).startswith(_PACKAGE_DIR)


def _defined_by_tfsynth(error: BaseException) -> bool:
    """True when the error's class, or one it derives from, is defined in a tfsynth file (by file, not by module
    name: a command run with `python -m` defines its classes in `__main__`)."""
    return any(_in_package(getattr(sys.modules.get(cls.__module__), "__file__", None) or "")
               for cls in type(error).__mro__)


def _raised_by_tfsynth(error: BaseException) -> bool:
    """True when a `raise` statement in tfsynth's code raised `error` (not Python or a library inside our call)."""
    frame = error.__traceback__
    if frame is None:
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    filename = frame.tb_frame.f_code.co_filename
    return _in_package(filename) and linecache.getline(filename, frame.tb_lineno).lstrip().startswith("raise")


def _tensorflow_file_error(error: BaseException) -> bool:
    tf = sys.modules.get("tensorflow")  # never imported here: if TensorFlow is not loaded, it raised nothing
    errors = getattr(tf, "errors", None)
    return errors is not None and isinstance(error, (errors.NotFoundError, errors.PermissionDeniedError,
                                                     errors.DataLossError))


def is_expected(error: BaseException) -> bool:
    """Whether `error` is one the user can fix from its message (see the module docstring), not a bug."""
    if not isinstance(error, Exception):
        return False
    if _defined_by_tfsynth(error) or isinstance(error, OSError):
        return True
    return _raised_by_tfsynth(error) or _tensorflow_file_error(error)


def message_of(error: BaseException) -> str:
    """The error's message on one line; a file error as `PATH: reason`."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{os.fsdecode(error.filename)}: {error.strerror}"
    elif _tensorflow_file_error(error):
        text = getattr(error, "message", "") or str(error)
    else:
        text = str(error)
        if isinstance(error, KeyError) and error.args:
            text = str(error.args[0])  # str(KeyError) adds quotes around the message
    return " ".join(text.split()) or type(error).__name__


def _log_file() -> Optional[TextIO]:
    """The stream of absl's log file when absl logs to one (start_logging_to_file), else None."""
    try:
        from absl import logging as absl_logging
        stream = absl_logging.get_absl_handler().python_handler.stream
    except Exception:  # noqa: BLE001 - no absl handler: no log file
        return None
    if stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__):
        return None
    return stream


def report(command: str, error: BaseException, verbose: bool = False) -> int:
    """Prints `error` as the module docstring says; returns the exit status."""
    expected = is_expected(error)
    trace = "".join(traceback.format_exception(error))
    log = _log_file()
    if log is not None:
        log.write(trace)
        log.flush()
    if verbose or not expected:
        sys.stderr.write(trace)
    if expected:
        print(f"{command}: error: {message_of(error)}", file=sys.stderr)
        return EXIT_ERROR
    print(f"{command}: internal error: {type(error).__name__}: {message_of(error)} (a bug; please report it with "
          "the traceback above)", file=sys.stderr)
    return EXIT_BUG


def call(command: str, function: Callable[[], Any], verbose: bool = False) -> int:
    """Runs function() and returns its exit status: its own (an int) or 0, else report()'s for an exception.

    absl's UsageError and SystemExit pass through (absl and Python print those themselves).
    """
    from absl import app
    try:
        status = function()
    except app.UsageError:
        raise
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - every error ends here, as one line or as a bug's traceback
        return report(command, error, verbose)
    return status if isinstance(status, int) else 0


def run(main: Callable[[list[str]], Any], command: str) -> None:
    """app.run(main) for an absl command, with its errors reported by call() and --verbose honoured."""
    from absl import app

    def main_reporting_errors(argv: list[str]) -> int:
        return call(command, lambda: main(argv), verbose=flags.FLAGS.verbose)

    app.run(main_reporting_errors)
