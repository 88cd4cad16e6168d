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
    ├── NMEAError                     a sentence we cannot use
    │   ├── NMEAChecksumError
    │   └── NMEASentenceError
    ├── JSPRError                     a JSPR line (RockBLOCK 9704 serial protocol) we cannot use
    │   ├── JSPRMalformed             not ``<code|method> <target> <json>``
    │   │   ├── JSPRBadJSON           the JSON part is not one JSON object
    │   │   └── JSPRBadField          a field missing, of the wrong type or out of range
    │   ├── JSPRLineTooLong           no CR within the line limit (the rest up to CR is dropped)
    │   ├── JSPRTruncated             the stream ended inside a line
    │   └── LocalJSPRError            caller asked to encode something JSPR cannot carry
    ├── IMTError                      an IMT message transfer failed
    │   ├── CRCMismatch               the CRC-16/XMODEM trailer does not match
    │   └── TransferFailed            final MO/MT status other than success (``status`` says which)
    └── JSPRRefused (ModemError)      the 9704 answered a request with a 4xx code
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


# --- JSPR / IMT (RockBLOCK 9704) ---------------------------------------------------------------


class JSPRError(BridgeError):
    """A JSPR line that is not a request or response we accept."""


class JSPRMalformed(JSPRError):
    """Not ``<3-digit code> <target> <json>`` (responses) or ``GET|PUT <target> <json>``."""


class JSPRBadJSON(JSPRMalformed):
    """The JSON part is not valid UTF-8 JSON holding one object."""


class JSPRBadField(JSPRMalformed):
    """A body field is missing, of the wrong type or out of its documented range."""


class JSPRLineTooLong(JSPRError):
    """A line exceeded the limit before its CR; the bytes up to the next CR are discarded."""


class JSPRTruncated(JSPRError):
    """The stream ended (EOF) inside a line."""


class LocalJSPRError(JSPRError, ValueError):
    """The caller asked to encode a value JSPR cannot carry (bad target, oversize payload)."""


class IMTError(BridgeError):
    """An IMT message transfer did not complete."""


class CRCMismatch(IMTError):
    """The CRC-16/XMODEM trailer of an IMT message does not match its payload."""


class TransferFailed(IMTError):
    """The modem reported a final MO/MT status other than success."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class JSPRRefused(ModemError):
    """The 9704 answered a request with an error code (400-418, see ``jspr.Code``)."""
