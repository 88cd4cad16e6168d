"""Typed errors of the serial edge (after trio ``_core/_exceptions.py`` and h11 ``_util.py``).

Every decoder in this package turns any byte string into a value or one of these errors, never
another exception. Transports raise :class:`LinkClosed` (we closed it) or :class:`LinkBroken`
(the modem or the link failed; the cause is chained with ``raise ... from``).

::

    BridgeError
    ├── DirectIPError                 bad DirectIP bytes (Iridium SBD Developers Guide §5)
    │   ├── Malformed
    │   │   └── Truncated
    │   ├── Oversize
    │   └── LocalDirectIPError        caller asked to encode something DirectIP cannot carry
    ├── LinkError
    │   ├── LinkBroken                modem silent, garbage, serial failure (cause chained)
    │   │   ├── ResponseTimeout
    │   │   └── GarbledResponse
    │   └── LinkClosed                we closed it
    ├── ModemError                    the modem answered, and said no (ERROR, result code ≠ 0)
    │   └── WriteRejected             AT+SBDWB / +SBDWT result 1, 2 or 3
    └── NMEAError                     a sentence we cannot use
        ├── NMEAChecksumError
        └── NMEASentenceError
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error raised by :mod:`firmware_bridge`."""


# --- DirectIP --------------------------------------------------------------------------------


class DirectIPError(BridgeError):
    """DirectIP bytes that are not a message we accept."""


class Malformed(DirectIPError):
    """Not the structure the DirectIP specification prescribes (bad IEI lengths, bad fields)."""


class Truncated(Malformed):
    """The input ended before the message it started was complete."""


class Oversize(DirectIPError):
    """A message larger than the configured maximum (guards the TCP reader's memory)."""


class LocalDirectIPError(DirectIPError, ValueError):
    """The caller asked to encode a value DirectIP cannot carry (IMEI not 15 digits, …)."""


# --- the serial link -------------------------------------------------------------------------


class LinkError(BridgeError):
    """The serial link to the modem cannot be used."""


class LinkBroken(LinkError):
    """The modem or the link failed: silent, garbage, I/O error. The cause is chained."""


class ResponseTimeout(LinkBroken):
    """The modem did not complete its answer before the deadline."""


class GarbledResponse(LinkBroken):
    """The modem answered with bytes that are not the response the command defines."""


class LinkClosed(LinkError):
    """The link was closed by us; no further calls are possible."""


class ModemError(BridgeError):
    """The modem answered and refused (``ERROR``, or a non-zero result code)."""

    def __init__(self, message: str, *, command: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.code = code


class WriteRejected(ModemError):
    """``AT+SBDWB``/``AT+SBDWT`` result 1 (timeout), 2 (checksum) or 3 (bad size)."""


# --- NMEA ------------------------------------------------------------------------------------


class NMEAError(BridgeError):
    """An NMEA 0183 sentence that yields no position fix."""


class NMEAChecksumError(NMEAError):
    """The ``*hh`` checksum is missing or does not match the XOR of the sentence body."""


class NMEASentenceError(NMEAError):
    """A sentence with the right checksum but unusable fields (wrong count, bad numbers)."""
