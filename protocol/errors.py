"""Typed errors of the wire protocol (after h11 ``_util.py`` / wsproto ``utilities.py``).

Any byte string handed to any decoder yields a value or a :class:`RemoteProtocolError`
subclass — never another exception. :class:`LocalProtocolError` means the caller misused the API.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by :mod:`protocol`."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol cannot do (e.g. a message too large)."""


class RemoteProtocolError(ProtocolError):
    """Bytes from a peer were malformed, forged, replayed or otherwise unacceptable."""


class Malformed(RemoteProtocolError):
    """Not the structure the wire format prescribes (bad CBOR, wrong types, bad values)."""


class Truncated(Malformed):
    """The input ended before the structure it started was complete."""


class Oversize(RemoteProtocolError):
    """Larger than the link or the protocol allows (frame, fragment set, nesting)."""


class UnknownVersion(RemoteProtocolError):
    """A protocol version this implementation does not speak; refused, never guessed."""


class UnknownDevice(RemoteProtocolError):
    """The key id names no registered (or no longer valid) device key."""


class BadSignature(RemoteProtocolError):
    """The COSE_Sign1 signature does not verify with the key its kid names."""


class Replayed(RemoteProtocolError):
    """A sequence number already seen (or too old to tell) for this device."""


class SealBroken(RemoteProtocolError):
    """The HPKE-sealed body does not open: tampered, moved to another header, or wrong key."""


class WrongRecipient(RemoteProtocolError):
    """A downlink frame addressed to a different device."""


class BadText(Malformed):
    """A compressed text field that does not decode (unknown codec, corrupt stream)."""
