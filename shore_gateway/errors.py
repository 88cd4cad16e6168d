"""The gateway's error hierarchy (after h11's and :mod:`protocol.errors`' local/remote split).

- :class:`LocalError`: this gateway was misused or misconfigured (a route that names no usable
  transport, a service that cannot start). Fix the configuration or the calling code.
- :class:`RemoteError`: something outside this process was at fault — a peer sent input that is
  refused (a provider's webhook body, an MQTT envelope, a catch-data document, a login, a case
  request), or a peer we call refused or could not be reached. Answer it (4xx, a negative
  confirmation, a retry later) and keep serving.

Bad *frames* are :class:`protocol.errors.RemoteProtocolError` (``Malformed``, ``Oversize``, …),
raised by the sans-IO protocol and used here as they are; this module does not copy them.
Errors that callers already catch as ``ValueError`` or ``RuntimeError`` keep that base too.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's own errors."""


class LocalError(GatewayError):
    """The gateway was misused or misconfigured (our side)."""


class RemoteError(GatewayError):
    """A peer's input was refused, or a peer refused or could not be reached (their side)."""
