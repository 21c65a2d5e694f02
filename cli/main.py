"""The `mer` entry point: parse the command line, run the subcommand, turn what went wrong into one
line on stderr and an exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from contextlib import contextmanager

from mer_live.cli.common import StreamFailed, UserError
from mer_live.cli.parser import build_parser

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# the OSErrors that say the path given was wrong (a usage error); any other is a failure of the system
PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)


def _one_line(error: Exception) -> str:
    """A config's ValidationError (several lines) as one line naming the field; any other error as it reads."""
    from pydantic import ValidationError

    from mer_live.stream.settings import describe

    return describe(error) if isinstance(error, ValidationError) else str(error)


class _Formatter(logging.Formatter):
    """Our log lines as the command's own: `mer: warning: …`."""

    def format(self, record: logging.LogRecord) -> str:
        return f"mer: {record.levelname.lower()}: {super().format(record)}"


@contextmanager
def _logging(debug: bool):
    """The library's log to stderr while the command runs: warnings, and with --debug its debug lines
    (tracebacks of the errors a stream went on through); other libraries' debug lines stay out."""
    ours = logging.getLogger("mer_live")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        yield
    finally:  # main() leaves the process's logging as it found it (tests and scripts call it in-process)
        ours.removeHandler(handler)
        ours.setLevel(logging.NOTSET)


def main(argv: list[str] | None = None) -> int:
    """`mer ARGV…` (default: sys.argv[1:]); its exit code."""
    from mer_live.stream.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread: runs that start and stop threads keep their memory flat
    args = build_parser().parse_args(argv)
    with _logging(args.debug):
        return _run(args)


def _run(args) -> int:
    """The command `args` names; its exit code."""

    def failed(message: str, code: int) -> int:
        if args.debug:
            traceback.print_exc()
        print(f"mer: error: {message}", file=sys.stderr)
        return code

    try:
        args.func(args)
    except BrokenPipeError:  # whoever read our output stopped (`mer ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush stays quiet
        return 0
    except UserError as exc:
        return failed(str(exc), EXIT_USAGE)
    except (ValueError, *PATH_ERRORS) as exc:  # DatasetError, CheckpointError, config checks; a path given wrong
        return failed(_one_line(exc), EXIT_USAGE)
    except (OSError, StreamFailed) as exc:  # the system failed a right request (a full disk); the run broke
        return failed(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        print("mer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
