"""The `mer` entry point: parse the command line, run the subcommand, turn what went wrong into one
line on stderr and an exit code."""

from __future__ import annotations

import os
import sys

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


def main(argv: list[str] | None = None) -> int:
    """`mer ARGV…` (default: sys.argv[1:]); its exit code."""
    from mer_live.stream.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread: runs that start and stop threads keep their memory flat
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # whoever read our output stopped (`mer ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush stays quiet
        return 0
    except UserError as exc:
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, *PATH_ERRORS) as exc:  # DatasetError, CheckpointError, config checks; a path given wrong
        print(f"mer: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the system failed a right request: a full disk, an I/O error, a share gone
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except StreamFailed as exc:
        print(f"mer: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("mer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
