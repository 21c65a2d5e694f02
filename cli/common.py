"""What the command groups share: the two errors `main` maps to exit codes, argument types, and
checks on the paths and results of a run."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


class UserError(Exception):
    """A problem with what the user asked for; printed as one line, exit code 2."""


def refuse_unused(args: argparse.Namespace, where: str, dests: list[str]) -> None:
    """Nothing accepted and ignored: the options among `dests` (argparse dests) given a value other
    than their default, where they do nothing (`where`: "with --real"), are refused by name."""
    parser = args.command_parser
    names = {a.dest: a.option_strings[0] if a.option_strings else a.dest.upper() for a in parser._actions}
    given = [names[d] for d in dests if getattr(args, d, None) != parser.get_default(d)]
    if given:
        raise UserError(f"{', '.join(given)}: not used {where}; leave {'it' if len(given) == 1 else 'them'} out")


class StreamFailed(Exception):
    """The run failed on the way (a stream that broke before its end, events spotted but not written, batch
    tasks that failed on Ray): printed as one line, exit code 1 (2 is for what was asked wrong)."""


def positive(text: str) -> float:
    """A finite number > 0 (a frame rate, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def existing_path(text: str) -> Path:
    """A path that exists (~ expanded)."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"path does not exist: {path}")
    return path


def user_password(text: str) -> tuple[str, str]:
    """--auth (or MER_AUTH): user:password, both non-empty; the value is never echoed."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("wants user:password")
    return user, password


def writable(*paths: Path | None) -> None:
    """Refuse an output file that cannot be written before any work is done for it (its missing
    folders are made when it is written)."""
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is a folder")
        existing = path.expanduser().absolute().parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(f"cannot write {path}: {existing} is a file, not a folder")
        if (path.exists() and not os.access(path, os.W_OK)) or not os.access(existing, os.W_OK):
            raise UserError(f"cannot write {path}: permission denied")


def stated_views(source) -> int | None:
    """Views per frame as a dataset folder's dataset.json states them (e.g. `mer inject` output)."""
    from mer_live.corpora.fourdme import DatasetInfo

    path = Path(str(source)).expanduser()
    return DatasetInfo.read(path).views if path.is_dir() else None


def refuse_failed(failed: dict | None, what: str) -> None:
    """After the report is printed: parts of a Ray batch that failed make the run fail (exit 1)."""
    if failed:
        raise StreamFailed(
            f"{len(failed)} {what}(s) failed on Ray after a retry: "
            + "; ".join(f"{name} ({reason})" for name, reason in failed.items())
        )
