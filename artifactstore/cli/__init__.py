"""The ``artifactstore`` command: look into a store, move bytes in and out, migrate, scrub.

``artifactstore [--store URL] [--quiet] COMMAND ...`` (also ``python -m artifactstore``).
The store is ``--store URL`` (a path, ``file:///...`` or ``s3://bucket/prefix?...``,
see :func:`artifactstore.store_from_url`), else the environment, exactly as
:func:`artifactstore.get_artifact_store` reads it. ``copy`` and ``check`` name
their two stores as arguments instead.

Conventions (the usual ones of Unix tools):

- stdout carries data only (keys, bytes, JSON), so it pipes into ``sort``, ``jq``
  or ``xargs``. Progress and the closing summary of ``copy``/``check``/``verify``
  go to stderr; progress only when stderr is a terminal, and ``--quiet`` silences
  both. Errors are one line, ``artifactstore: error: ...``, never a traceback.
- Exit status: 0 all went well; 1 something was not found, failed, conflicted,
  differed or was corrupt; 2 a usage or configuration error (bad option, bad store
  URL, invalid key); 130 interrupted (Ctrl-C); 141 stdout closed early (``| head``),
  as a tool killed by SIGPIPE reports it.

Output formats: ``ls`` one key per line in key order; ``ls -l`` ``SIZE MODIFIED
SHA256 KEY`` (SHA-256 ``-`` where the listing does not carry it, as on S3, rather
than one HEAD per key; ``stat`` reads it); ``put`` ``KEY<TAB>SHA256<TAB>URI``;
``copy`` and ``check`` one ``OUTCOME<TAB>KEY[<TAB>WHY]`` line per problem
(``conflict``, ``failed``, ``corrupt``; ``missing-in-dst``, ``missing-in-src``,
``different``); ``verify`` the corrupt keys; ``--json`` one JSON document (one
object per line for ``ls``). ``copy``, ``check`` and ``verify`` name each name
they skipped because it is not a key (an NFD "Café", a backslash) on stderr,
``artifactstore: skipped, not a key: NAME: WHY``, and exit 1 for them unless
``--ignore-invalid``. ``get`` writes a temporary file next to DEST and
renames it over DEST (an existing file is replaced, as ``cp`` does; on any failure,
``--verify`` included, DEST is left as it was). ``cat --verify`` can only report a
mismatch after the bytes went out: it exits 1, so a pipeline with ``pipefail`` fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .. import __version__
from ..errors import ArtifactStoreError, InvalidKeyError, StorageConfigError
from ._audit import add_audit_commands, cmd_audit
from ._commands import (
    Context,
    cmd_check,
    cmd_copy,
    cmd_ls,
    cmd_rm,
    cmd_stat,
    cmd_url,
    cmd_verify,
)
from ._holds import HOLD_COMMANDS, add_hold_commands
from ._io import cmd_cat, cmd_get, cmd_put

__all__ = ["build_parser", "main"]


_Command = Callable[[Context, argparse.Namespace], Coroutine[Any, Any, int]]
COMMANDS: dict[str, _Command] = {
    "ls": cmd_ls,
    "stat": cmd_stat,
    "cat": cmd_cat,
    "get": cmd_get,
    "put": cmd_put,
    "rm": cmd_rm,
    "url": cmd_url,
    "verify": cmd_verify,
    "copy": cmd_copy,
    "check": cmd_check,
    "audit": cmd_audit,
    **HOLD_COMMANDS,
}


def _meta_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # The same options after the command name too (``artifactstore ls --store X``);
    # there they default to SUPPRESS so they do not override the ones given before it.
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--store",
        metavar="URL",
        default=default,
        help="the store: a path, file:///path or s3://bucket/prefix?endpoint_url=..&region=.. "
        "(default: the environment, as get_artifact_store() reads it)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="no progress display and no summary line on stderr (errors still show)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``artifactstore`` command."""
    parser = argparse.ArgumentParser(
        prog="artifactstore",
        description="Look into an artifact store, copy artifacts between stores, verify them.",
        epilog="Exit status: 0 ok, 1 not found/failed/conflict/different/corrupt, "
        "2 usage or configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, description=help, parents=[common], aliases=list(aliases)
        )

    p = command("ls", "list keys under PREFIX, recursively, in key order")
    p.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    p.add_argument(
        "-l",
        dest="long",
        action="store_true",
        help="also size, modified time (ISO 8601) and SHA-256 ('-' where the listing "
        "does not carry it, as on S3: use stat for one artifact's)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = command("stat", "show one artifact's metadata")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--json", action="store_true", help="one JSON object")

    p = command("cat", "write an artifact's bytes to stdout, streamed")
    p.add_argument("key", metavar="KEY")
    p.add_argument(
        "--verify",
        action="store_true",
        help="hash the bytes while streaming; exit 1 if they do not match the recorded "
        "SHA-256 (the bytes have been written by then: do not trust the output)",
    )

    p = command("get", "download an artifact to a local file, atomically")
    p.add_argument("key", metavar="KEY")
    p.add_argument(
        "dest",
        nargs="?",
        metavar="DEST",
        help="file or existing folder (default: the key's last segment, here); an "
        "existing file is replaced, as cp does",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="check the SHA-256; on a mismatch DEST is left as it was",
    )

    p = command("put", "store a local file (or - for stdin); prints key, SHA-256 and URI")
    p.add_argument("src", metavar="SRC")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--mime-type", metavar="TYPE", help="default: guessed from the key")
    p.add_argument(
        "--meta",
        metavar="NAME=VALUE",
        action="append",
        type=_meta_pair,
        default=[],
        help="user metadata (repeatable)",
    )
    p.add_argument("--if-not-exists", action="store_true", help="fail (exit 1) if the key exists")

    p = command("rm", "delete artifacts (or everything under --prefix, with --yes)")
    p.add_argument("keys", nargs="*", metavar="KEY")
    p.add_argument("--prefix", metavar="PREFIX", help="delete every artifact under PREFIX")
    p.add_argument("--yes", action="store_true", help="confirm a --prefix delete")
    add_hold_commands(command)

    p = command("url", "print a URL to read an artifact")
    p.add_argument("key", metavar="KEY")
    p.add_argument(
        "--expires", type=_positive, default=3600, metavar="SECONDS", help="default 3600"
    )

    p = command("verify", "re-hash every artifact under PREFIX; print the corrupt keys")
    p.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    p.add_argument("-j", "--jobs", type=_positive, default=4, metavar="N", help="default 4")
    p.add_argument("--json", action="store_true", help="one JSON document with the report")
    p.add_argument(
        "--ignore-invalid",
        action="store_true",
        help="exit 0 even if names that are not keys were skipped (they are still listed)",
    )

    p = command(
        "copy",
        "copy every artifact from one store to another, verified and resumable",
        aliases=["migrate"],
    )
    p.add_argument("src", metavar="SRC_URL")
    p.add_argument("dst", metavar="DST_URL")
    p.add_argument("--prefix", default="", metavar="PREFIX", help="only artifacts under it")
    p.add_argument("-j", "--jobs", type=_positive, default=16, metavar="N", help="default 16")
    p.add_argument(
        "--overwrite", action="store_true", help="replace destination artifacts that differ"
    )
    p.add_argument(
        "--verify-bytes", action="store_true", help="also read back and re-hash every copy"
    )
    p.add_argument("--dry-run", action="store_true", help="report what would be copied")
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="write one JSON line per artifact at the destination after the run (key, "
        "SHA-256, both sides' to_db_row()), to update a database; written atomically, 0600",
    )
    p.add_argument(
        "--journal",
        metavar="PATH",
        help="a local file noting what was verified on both sides, so that a rerun "
        "skips it without a HEAD per artifact (created if missing)",
    )
    p.add_argument("--json", action="store_true", help="one JSON document with the report")
    p.add_argument(
        "--ignore-invalid",
        action="store_true",
        help="exit 0 even if names that are not keys were skipped (they are still listed)",
    )

    p = command("check", "compare two stores by SHA-256, without copying")
    p.add_argument("src", metavar="SRC_URL")
    p.add_argument("dst", metavar="DST_URL")
    p.add_argument("--prefix", default="", metavar="PREFIX", help="only artifacts under it")
    p.add_argument("--json", action="store_true", help="one JSON document with the report")
    p.add_argument(
        "--ignore-invalid",
        action="store_true",
        help="exit 0 even if names that are not keys were skipped (they are still listed)",
    )

    p = command("audit", "the audit trail: list, export, checkpoint, verify and prove events")
    add_audit_commands(p, common)
    return parser


def _error(message: object) -> None:
    # One line, whatever the message holds.
    text = " ".join(str(message).split()) or type(message).__name__
    try:
        sys.stderr.write(f"artifactstore: error: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    # The reader went away: point stdout at /dev/null so that the interpreter's
    # final flush does not raise (and print) a second BrokenPipeError.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (the console script exits with it)."""
    args = build_parser().parse_args(argv)  # exits 2 itself on a usage error
    name = "copy" if args.command == "migrate" else args.command
    handler = COMMANDS[name]
    context = Context(
        quiet=bool(args.quiet),
        show_progress=not args.quiet and sys.stderr.isatty(),
        error=_error,
    )
    try:
        status = asyncio.run(handler(context, args))
        sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except (StorageConfigError, InvalidKeyError) as exc:
        _error(exc)
        return 2
    except ArtifactStoreError as exc:
        _error(exc)
        return 1
    except ValueError as exc:  # a malformed argument the library refused (metadata, mime type)
        _error(exc)
        return 2
    except OSError as exc:  # a local file of ours: put's SRC, get's DEST
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return 1
