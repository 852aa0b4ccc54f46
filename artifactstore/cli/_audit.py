"""The ``artifactstore audit`` commands: list, export, sign, verify and prove the audit trail.

``ls`` (a table, ``--json`` JSON Lines, ``--csv``), ``keygen`` (an Ed25519 PEM pair),
``checkpoint`` (sign the trail's size and root), ``verify`` (the tree against a
checkpoint kept elsewhere, naming the first event that does not match), ``proof SEQ``
and ``check-proof`` (offline, with the public key alone). The store, chosen as for
every command, must keep a trail (``?audit=true``, ``ARTIFACT_AUDIT=true``).

Exit status (see :mod:`artifactstore.cli`): 2 for a store that keeps no trail, a key
file that cannot be read or is not the Ed25519 PEM key asked for, a checkpoint or
proof file that cannot be read; 1 for a trail, checkpoint
or proof that does not verify, a missing event or checkpoint, a file ``keygen``
would overwrite.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StorageConfigError
from ._commands import Context, _open_store, _out, printable

if TYPE_CHECKING:
    from ..audit import AuditEvent, AuditLog, VerifyOutcome

__all__ = ["add_audit_commands", "cmd_audit"]

#: The most read of a key, checkpoint or proof file: a mistaken /dev/zero must not hang.
_MAX_FILE = 1 << 20
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class _Usage(Exception):
    """A usage error of an audit command: one line on stderr, exit status 2."""


def _time(text: str, *, until: bool) -> datetime:
    """``--since``/``--until``: ISO 8601; a date is from its start or to its end; naive is UTC."""
    raw = text.strip()
    try:
        if _DATE.fullmatch(raw):
            value = datetime.combine(date.fromisoformat(raw), time.max if until else time.min)
        else:
            value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("z", "Z")) else raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


_since = functools.partial(_time, until=False)
_until = functools.partial(_time, until=True)


def _seq(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"an event's number (1, 2, ...), not {text!r}")
    return int(text)


def add_audit_commands(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """The ``audit`` subcommands, under ``parser`` (the ``audit`` command's parser)."""
    sub = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    p = command("ls", "list the audit events, oldest first: a table, --json or --csv")
    p.add_argument("--key", metavar="KEY", help="this key or keys under it, as source or dst")
    p.add_argument("--actor", metavar="ACTOR", help="events of this actor")
    p.add_argument("--operation", metavar="OP", help="put, get, stream, copy, move, delete, ...")
    when = "ISO 8601 date or date-time, inclusive (no zone: UTC)"
    p.add_argument("--since", type=_since, metavar="TIME", help=f"{when}; a date: from its start")
    p.add_argument("--until", type=_until, metavar="TIME", help=f"{when}; a date: to its end")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON Lines: one event per line")
    output.add_argument("--csv", action="store_true", help="CSV with a header row")

    p = command("keygen", "write a new Ed25519 key pair for checkpoints (PEM files)")
    p.add_argument("--out-private", required=True, metavar="FILE", help="PKCS#8, mode 0600")
    p.add_argument("--out-public", required=True, metavar="FILE", help="SubjectPublicKeyInfo")
    p.add_argument("--force", action="store_true", help="replace files that exist")

    p = command("checkpoint", "sign the trail's size and root; print the signed note")
    p.add_argument("--key", required=True, metavar="FILE", help="the PEM PKCS#8 private key")
    p.add_argument("--out", metavar="FILE", help="also write the note there (not in the DataRoom)")
    p.add_argument("--key-name", metavar="NAME", help="default: artifactstore-<key hash>")

    p = command("verify", "check the trail against a signed checkpoint; exit 1 if tampered")
    p.add_argument("--pubkey", required=True, metavar="FILE", help="the PEM public key")
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a note kept elsewhere (default: the trail's own: weaker)",
    )
    p.add_argument("--key-name", metavar="NAME", help="only signatures under this key name")
    p.add_argument("--json", action="store_true", help="one JSON document with the verdict")

    p = command("proof", "print one event with its inclusion proof (a JSON document)")
    p.add_argument("seq", type=_seq, metavar="SEQ", help="the event's number")
    p.add_argument("--checkpoint", metavar="FILE", help="default: the latest covering SEQ")
    p.add_argument("--out", metavar="FILE", help="also write the document there")

    p = command("check-proof", "verify a proof offline with the public key; print its event")
    p.add_argument("proof", metavar="FILE", help="the proof document (- for stdin)")
    p.add_argument("--pubkey", required=True, metavar="FILE", help="the PEM public key")
    p.add_argument("--key-name", metavar="NAME", help="only a signature under this key name")
    p.add_argument("--json", action="store_true", help="seq, origin, tree size and the event")


def _read(path: str, what: str) -> bytes:
    """A file named on the command line (``-``: stdin); ``_Usage`` if it cannot be read."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(_MAX_FILE + 1)
        else:
            with open(os.path.expanduser(path), "rb") as f:
                data = f.read(_MAX_FILE + 1)
    except OSError as exc:
        raise _Usage(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > _MAX_FILE:
        raise _Usage(f"{path}: not a {what} (over {_MAX_FILE} bytes)")
    return data


def _pem(path: str, what: str) -> str:
    """A key file's PEM text (checked to be PEM, so the library never reads it as a path)."""
    text = _read(path, what).decode("ascii", "replace")
    if not text.lstrip().startswith("-----BEGIN "):
        raise _Usage(f"{path}: not a PEM {what}")
    return text


def _note(path: str) -> str:
    """A checkpoint file's text, for the library to check (and refuse if it is no note)."""
    text = _read(path, "checkpoint").decode("utf-8", "replace")
    return text if "\n" in text else text + "\n"  # without one the library reads a path


@contextlib.asynccontextmanager
async def _trail(args: argparse.Namespace) -> AsyncIterator[AuditLog]:
    async with _open_store(args) as store:
        if not store.audited:
            raise StorageConfigError(
                f"{store} keeps no audit trail: use ?audit=true in its URL / "
                "ARTIFACT_AUDIT=true for the environment's store",
                setting="audit",
            )
        yield store.audit_log()


def _write(path: str, data: bytes, *, private: bool = False, replace: bool = True) -> None:
    """``data`` to ``path``, renamed over it or never over a file; ``private``: mode 0600."""
    target = Path(path).expanduser()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp") if replace else target
    fd = os.open(temp, flags | getattr(os, "O_NOFOLLOW", 0), 0o600 if private else 0o666)
    done = False
    try:
        if private:
            os.fchmod(fd, 0o600)  # a umask can only take bits away: put back what it took
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        if replace:
            os.replace(temp, target)
        done = True
    finally:
        os.close(fd)
        if not done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


_shown = printable  # a free-form field for the table


def _row(event: AuditEvent) -> str:
    when = event.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    target = _shown(event.key)
    if event.dst is not None:
        target += f" -> {_shown(event.dst)}"
    actor, operation, outcome = _shown(event.actor), _shown(event.operation), _shown(event.outcome)
    return f"{event.seq:>8}  {when}  {actor:<16}  {operation:<13}  {outcome:<9}  {target}"


async def _ls(ctx: Context, args: argparse.Namespace) -> int:
    from ..keys import normalize_prefix

    prefix = normalize_prefix(args.key) if args.key is not None else ""
    filters: dict[str, Any] = {"prefix": prefix or None, "actor": args.actor}
    filters.update(operation=args.operation, since=args.since, until=args.until)
    async with _trail(args) as log:
        if args.json or args.csv:
            await log.export(sys.stdout, format="csv" if args.csv else "jsonl", **filters)
            return 0
        _out(f"{'SEQ':>8}  {'TIME':<20}  {'ACTOR':<16}  {'OPERATION':<13}  {'OUTCOME':<9}  KEY")
        async for event in log.events(**filters):
            _out(_row(event))
    return 0


async def _keygen(ctx: Context, args: argparse.Namespace) -> int:
    return _make_key_pair(ctx, args)  # no store, no loop work: the files, in this thread


def _make_key_pair(ctx: Context, args: argparse.Namespace) -> int:
    from ..audit import generate_key_pair

    private, public = args.out_private, args.out_public
    if Path(private).expanduser().absolute() == Path(public).expanduser().absolute():
        raise _Usage("--out-private and --out-public name the same file")
    if not args.force:
        for path in (private, public):
            if os.path.lexists(os.path.expanduser(path)):
                ctx.error(f"{path} exists: not overwritten (--force replaces it)")
                return 1
    private_pem, public_pem = generate_key_pair()
    _write(private, private_pem, private=True, replace=args.force)
    try:
        _write(public, public_pem, replace=args.force)
    except BaseException:
        if not args.force:  # no half pair left behind
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.expanduser(private))
        raise
    ctx.summary(f"wrote the private key {private} (mode 0600) and the public key {public}")
    return 0


async def _checkpoint(ctx: Context, args: argparse.Namespace) -> int:
    from ..audit import AuditKeyError

    key = _pem(args.key, "private key")
    async with _trail(args) as log:
        try:
            note = await log.checkpoint(key, key_name=args.key_name, out=args.out)
        except AuditKeyError as exc:
            raise _Usage(f"{args.key}: {exc}") from None
    sys.stdout.write(note)
    return 0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _verdict(outcome: VerifyOutcome | None, reason: str, given: bool) -> dict[str, Any]:
    """``verify``'s fields (its ``--json``); ``outcome`` None: a checkpoint that does not verify."""
    found: dict[str, Any] = {"ok": False, "verdict": "not verified"}
    found.update(dict.fromkeys(["events", "root", "first_bad_seq", "suspect_range", "checkpoint"]))
    if outcome is not None:
        head, suspect = outcome.checkpoint, outcome.suspect_range
        bad = outcome.first_bad_seq
        found.update(
            ok=outcome.ok,
            verdict="verified" if outcome.ok else "not verified" if bad is None else "tampered",
            events=outcome.size if outcome.root else None,  # none read: a note was refused
            root=_b64(outcome.root) if outcome.root else None,
            first_bad_seq=bad,
            suspect_range=None if suspect is None else list(suspect),
            checkpoint=head and {"origin": head.origin, "size": head.size, "root": _b64(head.root)},
        )
    return {**found, "checkpoints": "given" if given else "trail", "reason": reason}


def _show_verdict(found: dict[str, Any]) -> None:
    lines = [("verdict", found["verdict"])]
    if found["events"] is not None:
        lines += [("events", str(found["events"])), ("root", found["root"])]
    bad, suspect = found["first_bad_seq"], found["suspect_range"]
    if bad is not None:
        exact = suspect is None or suspect[0] == suspect[1]
        where = "" if exact else f" at the latest (it lies in seq {suspect[0]}..{suspect[1]})"
        lines.append(("first bad event", f"seq {bad}{where}"))
    if found["checkpoint"] is not None:
        head = found["checkpoint"]
        lines.append(("checkpoint", f"{head['origin']} size {head['size']} root {head['root']}"))
    lines.append(("reason", found["reason"]))
    for name, value in lines:
        _out(f"{name + ':':<16} {' '.join(value.split())}")


async def _verify(ctx: Context, args: argparse.Namespace) -> int:
    from ..audit import AuditKeyError, AuditVerificationError

    key = _pem(args.pubkey, "public key")
    given = args.checkpoint is not None
    note = _note(args.checkpoint) if given else None
    async with _trail(args) as log:
        try:
            outcome = await log.verify(key, checkpoint=note, key_name=args.key_name)
            found = _verdict(outcome, outcome.reason, given)
        except AuditKeyError as exc:
            raise _Usage(f"{args.pubkey}: {exc}") from None
        except AuditVerificationError as exc:
            where = args.checkpoint if given else "a checkpoint recorded in the trail"
            found = _verdict(None, f"{where} does not verify: {exc}", given)
    if not given:
        sys.stderr.write(
            "artifactstore: warning: no --checkpoint: only the checkpoints recorded in the "
            "trail itself were used, which a rewrite of the whole trail escapes (weaker)\n"
        )
    if args.json:
        _out(json.dumps(found))
    else:
        _show_verdict(found)
    return 0 if found["ok"] else 1


async def _proof(ctx: Context, args: argparse.Namespace) -> int:
    from ..audit import AuditVerificationError

    note = None if args.checkpoint is None else _note(args.checkpoint)
    async with _trail(args) as log:
        try:
            document = await log.proof(args.seq, checkpoint=note)
        except AuditVerificationError as exc:
            ctx.error(f"no proof of event {args.seq}: {exc}")
            return 1
        except ValueError as exc:  # no such event, no checkpoint covering it
            ctx.error(exc)
            return 1
    text = json.dumps(document, indent=2) + "\n"
    if args.out is not None:
        _write(args.out, text.encode())
    sys.stdout.write(text)
    return 0


async def _check_proof(ctx: Context, args: argparse.Namespace) -> int:
    from ..audit import AuditKeyError, AuditVerificationError, verify_proof

    document = _read(args.proof, "proof document")
    key = _pem(args.pubkey, "public key")
    try:
        event = verify_proof(document, key, key_name=args.key_name)
    except AuditKeyError as exc:
        raise _Usage(f"{args.pubkey}: {exc}") from None
    except AuditVerificationError as exc:
        ctx.error(f"{args.proof}: the proof does not verify: {exc}")
        return 1
    fields = json.loads(document)  # every field of it was checked
    seq, size, origin = fields["seq"], fields["tree_size"], fields["origin"]
    if args.json:
        body = json.loads(event)
        _out(json.dumps({"seq": seq, "origin": origin, "tree_size": size, "event": body}))
    else:
        _out(event.decode("utf-8"))
    ctx.summary(f"verified: event seq {seq} is in the signed tree of {size} events of {origin}")
    return 0


_Handler = Callable[[Context, argparse.Namespace], Coroutine[Any, Any, int]]
_HANDLERS: dict[str, _Handler] = {"ls": _ls, "keygen": _keygen, "checkpoint": _checkpoint}
_HANDLERS.update({"verify": _verify, "proof": _proof, "check-proof": _check_proof})


async def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    """Run one ``audit`` subcommand."""
    try:
        return await _HANDLERS[args.audit_command](ctx, args)
    except _Usage as exc:
        ctx.error(exc)
        return 2
