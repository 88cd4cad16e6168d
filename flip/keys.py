"""`flip keys new` — Ed25519 signing keys for vessels and the shore, X25519 sealing key for the
shore (PEM: PKCS#8 / SubjectPublicKeyInfo)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flip.output import CommandError, emit


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("keys", help="generate device and shore keys")
    ksub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = ksub.add_parser("new", help="generate a key set")
    new.add_argument("--role", choices=["vessel", "shore"], required=True)
    new.add_argument("--name", required=True, help="file name stem, e.g. the vessel name")
    new.add_argument("--dir", required=True, type=Path, help="directory to write into")
    new.add_argument("--force", action="store_true", help="replace existing key files")
    new.add_argument("--json", action="store_true", help="print one JSON object")
    new.set_defaults(func=run_new)


def run_new(args: argparse.Namespace) -> int:
    from flip.keyfiles import KeyFileError, load, new_keys
    from protocol.keys import key_id

    try:
        paths = new_keys(args.dir, args.name, args.role, force=args.force)
        verify = load(paths["sign_public"], "verify")
    except KeyFileError as exc:
        raise CommandError(str(exc)) from exc
    result: dict[str, Any] = {**paths, "role": args.role, "kid": key_id(verify).hex()}  # type: ignore[arg-type]
    emit(args, result, lambda r: "\n".join(f"{k}: {v}" for k, v in sorted(r.items())))
    return 0
