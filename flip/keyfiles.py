"""Key files on disk (the I/O around :mod:`protocol.keys`).

Layout written by ``flip keys new --name NAME --dir DIR``::

    DIR/NAME-sign.pem        Ed25519 private key, PKCS#8 PEM (mode 0600)
    DIR/NAME-sign.pub.pem    Ed25519 public key, SubjectPublicKeyInfo PEM
    DIR/NAME-seal.pem        X25519 private key (shore only)
    DIR/NAME-seal.pub.pem    X25519 public key (shore only)
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import keys
from protocol.errors import LocalProtocolError


class KeyFileError(Exception):
    """A key file is missing, unreadable or of the wrong kind (message says which)."""


def system_rng(n: int) -> bytes:
    """The operating system's CSPRNG — the rng handed to protocol/ in production."""
    return secrets.token_bytes(n)


def _write_private(path: Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def new_keys(directory: Path, name: str, role: str, *, force: bool = False) -> dict[str, str]:
    """Generate and write the keys of ``role`` ("vessel" or "shore"); returns the paths."""
    if role not in {"vessel", "shore"}:
        raise KeyFileError(f"role must be vessel or shore, not {role!r}")
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"key name {name!r} is not a plain file name")
    directory.mkdir(parents=True, exist_ok=True)
    kinds = ["sign"] + (["seal"] if role == "shore" else [])
    paths: dict[str, str] = {}
    for kind in kinds:
        priv, pub = directory / f"{name}-{kind}.pem", directory / f"{name}-{kind}.pub.pem"
        for p in (priv, pub):
            if p.exists():
                if not force:
                    raise KeyFileError(f"{p} exists; refusing to overwrite a key (use --force)")
                p.unlink()
        key: Ed25519PrivateKey | X25519PrivateKey = (
            keys.new_signing_key(system_rng) if kind == "sign" else keys.new_sealing_key(system_rng)
        )
        _write_private(priv, keys.private_pem(key))
        pub.write_bytes(keys.public_pem(key.public_key()))
        paths[f"{kind}_private"] = str(priv)
        paths[f"{kind}_public"] = str(pub)
    return paths


def _read(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc


def load(path: Path | str, kind: str) -> object:
    """Load one key file: kind is sign|verify|seal|seal_public."""
    loader = {
        "sign": keys.load_signing_key,
        "verify": keys.load_verify_key,
        "seal": keys.load_sealing_key,
        "seal_public": keys.load_seal_public,
    }[kind]
    try:
        return loader(_read(path))
    except LocalProtocolError as exc:
        raise KeyFileError(f"{path}: {exc}") from exc


def load_signing(path: Path | str) -> Ed25519PrivateKey:
    key = load(path, "sign")
    assert isinstance(key, Ed25519PrivateKey)
    return key


@dataclass(frozen=True)
class ShoreKeys:
    """The shore's key pair set, as a gateway loads it from ``--keys DIR``."""

    name: str
    sign: Ed25519PrivateKey
    seals: list[X25519PrivateKey]  # current first, then older ones kept to open old messages


def load_shore(directory: Path | str) -> ShoreKeys:
    """Load the shore keys from a directory ``flip keys new --role shore`` wrote into.

    Several ``*-seal.pem`` files may be present after a rotation: all are tried when opening,
    newest (by modification time) first. Exactly one signing key must be present.
    """
    d = Path(directory)
    signs = sorted(d.glob("*-sign.pem"))
    if len(signs) != 1:
        raise KeyFileError(
            f"{d}: expected exactly one *-sign.pem shore signing key, found {len(signs)}"
        )
    seal_paths = sorted(d.glob("*-seal.pem"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not seal_paths:
        raise KeyFileError(f"{d}: no *-seal.pem shore sealing key")
    seals = []
    for p in seal_paths:
        key = load(p, "seal")
        assert isinstance(key, X25519PrivateKey)
        seals.append(key)
    return ShoreKeys(
        name=signs[0].name.removesuffix("-sign.pem"), sign=load_signing(signs[0]), seals=seals
    )
